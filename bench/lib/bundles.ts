import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { projectRoot } from '#local/state.ts';
import { esbuildOptions, lambdaEsbuildOptions } from '../../functions/bundling.ts';

export interface BundleSize {
  readonly name: string;
  readonly bytes: number;
}

/** Every Lambda handler bundled as CDK bundles it (functions/bundling.ts), and the pilot's transformer. */
export async function bundleSizes(): Promise<BundleSize[]> {
  const functions = join(projectRoot, 'functions');
  const entries = readdirSync(functions)
    .filter((f) => existsSync(join(functions, f, 'handler.ts')))
    .map((f) => ({ name: f, entry: join(functions, f, 'handler.ts'), options: lambdaEsbuildOptions }));
  const transformer = join(functions, 'transformer', 'main.ts');
  entries.push({ name: 'transformer (pilot entry)', entry: transformer, options: esbuildOptions });
  const out = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  try {
    const sizes: BundleSize[] = [];
    for (const { name, entry, options } of entries) {
      const outfile = join(out, `${name.replace(/\W+/g, '-')}.mjs`);
      await build({ ...options, entryPoints: [entry], outfile, logLevel: 'silent' });
      sizes.push({ name, bytes: statSync(outfile).size });
    }
    return sizes;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
