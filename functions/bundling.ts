// How a function becomes one file: the Lambda handlers (through CDK, lib/handler-function.ts), the pilot's
// transformer (for local pilots and its image) and the benchmark's bundle sizes all use these options.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';

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
 * list is kept beside it, with the lock file standing for node_modules). Returns `outfile`.
 */
export async function bundleWhenStale(entry: string, outfile: string): Promise<string> {
  const inputsFile = `${outfile}.inputs.json`;
  if (isFresh(outfile, inputsFile)) return outfile;
  mkdirSync(dirname(outfile), { recursive: true });
  // Loaded here only: the image and local pilots run the bundle, which never bundles again.
  const { build } = await import('esbuild');
  const { metafile } = await build({
    ...esbuildOptions,
    entryPoints: [entry],
    outfile,
    // Input paths in the metafile are relative to this, whatever the caller's working directory.
    absWorkingDir: root,
    metafile: true,
  });
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

function isFresh(outfile: string, inputsFile: string): boolean {
  if (!existsSync(outfile) || !existsSync(inputsFile)) return false;
  const built = statSync(outfile).mtimeMs;
  try {
    const inputs = JSON.parse(readFileSync(inputsFile, 'utf8')) as string[];
    return inputs.every((f) => statSync(f).mtimeMs <= built);
  } catch {
    // An input gone (a file removed or renamed): build again.
    return false;
  }
}

// `node functions/bundling.ts <outfile>` under tsx: what the pilot image's build stage runs.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outfile = process.argv[2];
  if (!outfile) throw new Error('usage: bundling.ts <outfile>');
  console.log(await bundleTransformer(outfile));
}
