// How code becomes one file: the Lambda handlers (through CDK, lib/handler-function.ts), the pilot's
// transformer (local pilots and its image), the CLI and the benchmark's bundle sizes all use these options.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BuildOptions, Plugin } from 'esbuild';
import { cliBundleFile, isFresh } from '../bin/cli-bundle.js';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** esbuild's options for every bundle: minified ES modules for Node, nothing external. */
export const esbuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  // Node 22 on Lambda and in the pilot image; a local pilot runs on this machine's Node 20, which reads it.
  target: 'node20',
  mainFields: ['module', 'main'] as string[],
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  tsconfig: join(root, 'tsconfig.json'),
  // Bundling happens on a developer's machine, never in a bundle (the local pilot launcher imports it).
  external: ['esbuild'],
  // CommonJS dependencies (stompit) require Node built-ins, which an ES module has no `require` for.
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  logLevel: 'warning',
} satisfies BuildOptions;

/** The pilot's entry: one transformer until told to stop. */
export const transformerEntry = join(root, 'functions', 'transformer', 'main.ts');

/**
 * Bundles `entry` into `outfile` unless the bundle there is newer than every file it was built from (the
 * list is kept beside it, with the lock file standing for node_modules). Written aside and renamed, so that
 * processes building at once never start half a file. Returns `outfile`.
 */
export async function bundleWhenStale(
  entry: string,
  outfile: string,
  plugins: Plugin[] = [],
): Promise<string> {
  const inputsFile = `${outfile}.inputs.json`;
  if (isFresh(outfile, inputsFile)) return outfile;
  mkdirSync(dirname(outfile), { recursive: true });
  // Loaded here only: the image and local pilots run the bundle, which never bundles again.
  const { build } = await import('esbuild');
  const partial = `${outfile}.${process.pid}.partial`;
  const { metafile } = await build({
    ...esbuildOptions,
    // Run where they are built, where a source map would only cost memory.
    sourcemap: false,
    entryPoints: [entry],
    outfile: partial,
    plugins,
    // Input paths in the metafile are relative to this, whatever the caller's working directory.
    absWorkingDir: root,
    metafile: true,
  });
  renameSync(partial, outfile);
  const sources = Object.keys(metafile.inputs).filter((f) => !f.startsWith('node_modules/'));
  writeFileSync(inputsFile, JSON.stringify([...sources, 'package-lock.json'].map((f) => join(root, f))));
  return outfile;
}

/**
 * The transformer's bundle, built when stale. A pilot started from it loads in ~0.1 s with ~55 MB, where
 * `node --import tsx` takes ~0.25 s and ~80 MB (bench/README.md).
 */
export const bundleTransformer = (outfile: string): Promise<string> =>
  bundleWhenStale(transformerEntry, outfile);

/**
 * The CLI's bundle under node_modules/.cache, built when stale: `bin/testbed.js` runs it. Loading it takes
 * ~0.2 s less than loading the CLI's modules one by one through tsx's loader (about a fifth of the time
 * `testbed run` takes to a first result).
 */
export const cliBundle = (): Promise<string> =>
  bundleWhenStale(join(root, 'bin', 'cli.ts'), cliBundleFile, [ownImportMetaUrl]);

/** `import.meta.url`, or a comment or string literal to step over (those never span a line but for `…`). */
const code =
  /\/\/[^\n]*|\/\*[\s\S]*?\*\/|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`|import\.meta\.url/g;

/**
 * Each module of the bundle keeps its own `import.meta.url`: the CLI finds the project's files (workflows,
 * the runner's entry, dynalite) from where its modules are, not from where the bundle is. String literals
 * are left alone.
 */
const ownImportMetaUrl: Plugin = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      const url = JSON.stringify(pathToFileURL(path).href);
      const text = await readFile(path, 'utf8');
      const contents = text.replace(code, (m) => (m === 'import.meta.url' ? url : m));
      return { contents, loader: 'ts' };
    });
  },
};
