import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logicalIdOf, type Synthesized, synthTestbed } from './support/stack.ts';

let s: Synthesized;
let assembly: string;
const outside = mkdtempSync(join(tmpdir(), 'lambda-bundles-'));

beforeAll(() => {
  // The one synth that bundles for real: esbuild, locally, for every function.
  s = synthTestbed({ bundling: true });
  assembly = s.app.synth().directory;
}, 120_000);
afterAll(() => rmSync(outside, { recursive: true, force: true }));

/** The folder of a function's bundle in the cloud assembly. */
function bundleOf(handler: string): string {
  const fn = s.stack.handlers.functions[handler];
  if (!fn) throw new Error(`no function ${handler}`);
  const key = s.template.toJSON().Resources[logicalIdOf(fn)].Properties.Code.S3Key as string;
  return join(assembly, `asset.${key.replace(/\.zip$/, '')}`);
}

describe('Handler bundles', () => {
  it('bundles every function into one minified ES module with its source map', () => {
    // Prepare
    const handlers = Object.keys(s.stack.handlers.functions);

    // Act
    const files = handlers.map((h) => [
      existsSync(join(bundleOf(h), 'index.mjs')),
      existsSync(join(bundleOf(h), 'index.mjs.map')),
    ]);

    // Assess
    expect(files).toEqual(handlers.map(() => [true, true]));
  });

  it.each(['run-imminent', 'slice-result', 'adjuster-worker', 'daq-simulator', 'transformer-end'])(
    'loads the %s bundle with nothing but Node, far from the repository and its node_modules',
    (handler) => {
      // Prepare
      const dir = join(outside, handler);
      cpSync(join(bundleOf(handler), 'index.mjs'), join(dir, 'index.mjs'));

      // Act
      const loaded = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(pathToFileURL(join(dir, 'index.mjs')).href)}); console.log(typeof m.handler);`,
        ],
        { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
      );

      // Assess
      expect({ stdout: loaded.stdout.trim(), stderr: loaded.stderr.trim() }).toEqual({
        stdout: 'function',
        stderr: '',
      });
    },
  );
});
