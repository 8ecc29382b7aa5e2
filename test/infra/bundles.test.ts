import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaEsbuildOptions } from '../../functions/bundling.ts';
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

  it('leaves out the credential links after the environment, and finds credentials in the environment as Lambda gives them', async () => {
    // Prepare: a client built as every handler builds its clients, bundled with a Lambda handler's options
    const dir = join(outside, 'credentials');
    const entry = join(dir, 'entry.ts');
    cpSync(join(bundleOf('slice-result'), 'index.mjs'), join(dir, 'slice-result.mjs'));
    writeFileSync(
      entry,
      "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\n" +
        "const c = await new DynamoDBClient({ region: 'eu-west-1' }).config.credentials();\n" +
        'console.log(c.accessKeyId);\n',
    );
    await build({
      ...lambdaEsbuildOptions,
      entryPoints: [entry],
      outfile: join(dir, 'client.mjs'),
      nodePaths: [join(process.cwd(), 'node_modules')],
      logLevel: 'silent',
    });

    // Act
    const resolved = spawnSync(process.execPath, [join(dir, 'client.mjs')], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        AWS_ACCESS_KEY_ID: 'AKIDLAMBDA',
        AWS_SECRET_ACCESS_KEY: 'secret',
        AWS_SESSION_TOKEN: 'token',
      },
    });
    const bundle = readFileSync(join(dir, 'slice-result.mjs'), 'utf8');

    // Assess
    // (stderr may hold the SDK's notice about Node 20, where this test runs)
    expect({ status: resolved.status, stdout: resolved.stdout.trim() }).toEqual({
      status: 0,
      stdout: 'AKIDLAMBDA',
    });
    expect(bundle).toContain('"@aws-sdk/credential-provider-sso"');
    expect(bundle).not.toContain('sso-oidc');
  });
});
