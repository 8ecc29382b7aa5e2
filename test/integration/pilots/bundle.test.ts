import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleTransformer, transformerEntry } from '../../../functions/bundling.ts';
import { testDir } from '../../support/temp.ts';

describe('The transformer bundle local pilots run', () => {
  it('is one file that runs with nothing but Node, and refuses to start without a run', async () => {
    // Prepare
    const outfile = join(testDir('bundle-'), 'transformer.mjs');
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
  }, 60_000);

  it('is built again only when one of its sources is newer than it', async () => {
    // Prepare
    const outfile = join(testDir('bundle-'), 'transformer.mjs');
    await bundleTransformer(outfile);
    const built = statSync(outfile).mtimeMs;
    const inputs = JSON.parse(readFileSync(`${outfile}.inputs.json`, 'utf8')) as string[];
    // Act
    await bundleTransformer(outfile);
    const unchanged = statSync(outfile).mtimeMs;
    const source = statSync(transformerEntry);
    utimesSync(transformerEntry, source.atime, new Date(built + 60_000));
    try {
      await bundleTransformer(outfile);
    } finally {
      utimesSync(transformerEntry, source.atime, source.mtime);
    }
    // Assess
    expect(inputs).toContain(transformerEntry);
    expect(unchanged).toBe(built);
    expect(statSync(outfile).mtimeMs).toBeGreaterThan(built);
  }, 60_000);
});
