import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourcesFile } from '../../../bin/cli-bundle.js';
import { bundleTransformer, bundleWhenStale } from '../../../functions/bundling.ts';
import { testDir } from '../../support/temp.ts';

describe('The transformer bundle local pilots run', () => {
  it('runs with nothing but Node from its folder, its entry small and the rest in chunks, and refuses to start without a run', async () => {
    // Prepare
    const dir = testDir('bundle-');
    const outfile = join(dir, 'transformer.mjs');
    // Act
    await bundleTransformer(outfile);
    const run = spawnSync(process.execPath, [outfile], {
      cwd: testDir('bundle-cwd-'),
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    // Assess
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/RUN_ID/);
    // What a pilot compiles at start: the S3 and Secrets Manager clients and zod wait in chunks.
    const chunks = readdirSync(dir).filter((f) => /^transformer-chunk-\w+\.mjs$/.test(f));
    const chunkBytes = chunks.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    expect(statSync(outfile).size).toBeLessThan(200_000);
    expect(chunkBytes).toBeGreaterThan(300_000);
  }, 60_000);

  it('is built again only when one of its sources is newer than it', async () => {
    // Prepare: an entry of its own, so that no other test's bundle sees its sources change.
    const dir = testDir('bundle-src-');
    const [entry, part] = [join(dir, 'entry.ts'), join(dir, 'part.ts')];
    writeFileSync(part, 'export const part = 1;\n');
    writeFileSync(entry, "import { part } from './part.ts';\nconsole.log(part);\n");
    const outfile = join(dir, 'out', 'entry.mjs');
    await bundleWhenStale(entry, outfile);
    const built = statSync(outfile).mtimeMs;
    const inputs = JSON.parse(readFileSync(sourcesFile(outfile), 'utf8')) as string[];
    // Act
    await bundleWhenStale(entry, outfile);
    const unchanged = statSync(outfile).mtimeMs;
    writeFileSync(part, 'export const part = 2;\n');
    utimesSync(part, new Date(), new Date(built + 60_000));
    await bundleWhenStale(entry, outfile);
    // Assess
    expect(inputs).toEqual(expect.arrayContaining([entry, part]));
    expect(unchanged).toBe(built);
    expect(statSync(outfile).mtimeMs).toBeGreaterThan(built);
    expect(readFileSync(outfile, 'utf8')).toMatch(/console\.log\(2\)/);
  }, 60_000);
});
