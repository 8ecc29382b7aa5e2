// How code becomes a bundle: the Lambda handlers (through CDK, lib/handler-function.ts), the pilot's
// transformer (local pilots and its image), the CLI and the benchmark's bundle sizes all use these options.
import { readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BuildOptions, Plugin } from 'esbuild';
import { cliBundleFile, isFresh, sourcesFile } from '../bin/cli-bundle.js';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** esbuild's options for every bundle: minified ES modules for Node, nothing external but the local stack. */
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
  // The local stack is never deployed: a handler imports it only under the local runner (functions/deps.ts).
  external: ['#local/*'],
  // CommonJS dependencies (stompit) require Node built-ins, which an ES module has no `require` for.
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  logLevel: 'warning',
} satisfies BuildOptions;

/**
 * A Lambda handler's options: as every bundle's, less the links of the SDK's default credential chain after
 * the first. Lambda gives a function its credentials in the environment, which the first link
 * (credential-provider-env, bundled) reads, so the others (profiles, SSO, process, web identity, the
 * instance and container endpoints, and the STS and SSO clients they build: ~95 KB a bundle) are never
 * loaded there. The pilot's transformer keeps them: on Fargate its credentials come from the container
 * endpoint.
 */
export const lambdaEsbuildOptions = {
  ...esbuildOptions,
  external: [
    ...esbuildOptions.external,
    '@aws-sdk/credential-provider-ini',
    '@aws-sdk/credential-provider-sso',
    '@aws-sdk/credential-provider-process',
    '@aws-sdk/credential-provider-web-identity',
    '@aws-sdk/credential-provider-http',
    '@smithy/credential-provider-imds',
  ],
} satisfies BuildOptions;

/** The pilot's entry: one transformer until told to stop. */
export const transformerEntry = join(root, 'functions', 'transformer', 'main.ts');

/**
 * Bundles `entry` into `outfile` unless the bundle there is newer than every file it was built from (the
 * list is kept beside it, with the lock file standing for node_modules and this file for how it is made).
 * What the entry imports dynamically (the S3 and Secrets Manager clients, zod) goes into chunks beside it,
 * loaded only when needed: V8 then compiles ~70 KB at start instead of ~700 KB. Chunks are named by their
 * content and the entry is renamed into place last, so that processes building at once never start half a
 * bundle. Returns `outfile`.
 */
export async function bundleWhenStale(
  entry: string,
  outfile: string,
  plugins: Plugin[] = [],
  external: string[] = [],
): Promise<string> {
  if (!outfile.endsWith('.mjs')) throw new Error(`bundle ${outfile}: the file name must end in .mjs`);
  const inputsFile = sourcesFile(outfile);
  if (isFresh(outfile, inputsFile)) return outfile;
  const dir = dirname(outfile);
  const name = basename(outfile, '.mjs');
  const staging = join(dir, `.${name}.${process.pid}.partial`);
  // Loaded here only: the image and local pilots run the bundle, which never bundles again.
  const { build } = await import('esbuild');
  try {
    const { metafile } = await build({
      ...esbuildOptions,
      // A program of this machine: the local stack is part of it.
      external,
      // Run where they are built, where a source map would only cost memory.
      sourcemap: false,
      entryPoints: [entry],
      outdir: staging,
      splitting: true,
      entryNames: name,
      chunkNames: `${name}-chunk-[hash]`,
      outExtension: { '.js': '.mjs' },
      plugins,
      // Input paths in the metafile are relative to this, whatever the caller's working directory.
      absWorkingDir: root,
      metafile: true,
    });
    const chunks = readdirSync(staging).filter((f) => f !== `${name}.mjs`);
    for (const chunk of chunks) renameSync(join(staging, chunk), join(dir, chunk));
    renameSync(join(staging, `${name}.mjs`), outfile);
    removeOldChunks(dir, name, new Set(chunks));
    const sources = Object.keys(metafile.inputs).filter((f) => !f.startsWith('node_modules/'));
    // This file too: a bundle made another way is stale.
    const inputs = [...sources, 'package-lock.json', 'functions/bundling.ts'].map((f) => join(root, f));
    writeFileSync(inputsFile, JSON.stringify(inputs));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return outfile;
}

/**
 * Chunks of earlier builds of the bundle, once an hour old: a process started from an earlier build may
 * still load one of its chunks, but not an hour on (a pilot loads them with its first slices).
 */
function removeOldChunks(dir: string, name: string, current: ReadonlySet<string>): void {
  const hourAgo = Date.now() - 3_600_000;
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(`${name}-chunk-`) || current.has(f)) continue;
    const file = join(dir, f);
    if (statSync(file).mtimeMs < hourAgo) rmSync(file, { force: true });
  }
}

/**
 * The transformer's bundle, built when stale. A pilot started from it loads its modules in ~30 ms, where
 * `node --import tsx` takes ~0.25 s and ~25 MB more (bench/README.md).
 */
export const bundleTransformer = (outfile: string): Promise<string> =>
  bundleWhenStale(transformerEntry, outfile);

/**
 * The CLI's bundle under node_modules/.cache, built when stale: `bin/testbed.js` runs it. Loading it takes
 * ~0.2 s less than loading the CLI's modules one by one through tsx's loader (about a fifth of the time
 * `testbed run` takes to a first result).
 */
export const cliBundle = (): Promise<string> =>
  // The CLI bundles (testbed up builds the pilots' bundle) with the esbuild installed beside it.
  bundleWhenStale(join(root, 'bin', 'cli.ts'), cliBundleFile, [ownImportMetaUrl], ['esbuild']);

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
