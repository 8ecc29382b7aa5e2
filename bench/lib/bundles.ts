import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { projectRoot } from '#local/state.ts';

export interface BundleSize {
  readonly name: string;
  readonly bytes: number;
}

/**
 * Every Lambda handler bundled as CDK bundles it (lib/handler-function.ts: esbuild, ESM, node22, minified,
 * nothing external), plus the transformer's entry for comparison (the pilot image runs it through tsx).
 */
export async function bundleSizes(): Promise<BundleSize[]> {
  const functions = join(projectRoot, 'functions');
  const entries = readdirSync(functions)
    .filter((f) => existsSync(join(functions, f, 'handler.ts')))
    .map((f) => ({ name: f, entry: join(functions, f, 'handler.ts') }));
  entries.push({ name: 'transformer (pilot entry)', entry: join(functions, 'transformer', 'main.ts') });
  const out = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  try {
    const sizes: BundleSize[] = [];
    for (const { name, entry } of entries) {
      const outfile = join(out, `${name.replace(/\W+/g, '-')}.mjs`);
      await build({
        entryPoints: [entry],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node22',
        mainFields: ['module', 'main'],
        minify: true,
        sourcemap: true,
        sourcesContent: false,
        tsconfig: join(projectRoot, 'tsconfig.json'),
        banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
        logLevel: 'silent',
      });
      sizes.push({ name, bytes: statSync(outfile).size });
    }
    return sizes;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
