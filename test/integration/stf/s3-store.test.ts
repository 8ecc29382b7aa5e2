import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localCopyOf, s3ClientConfig, stfStoreFor } from '#stf/s3-store.ts';
import { startTestS3, type TestS3 } from '../../support/s3.ts';
import { testDir } from '../../support/temp.ts';

describe('Function: s3ClientConfig', () => {
  it.each([
    [{ AWS_ENDPOINT_URL: 'http://localhost:4566' }, { forcePathStyle: true }],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }, { forcePathStyle: true }],
    [{ AWS_REGION: 'eu-west-1' }, {}],
    [{ AWS_ENDPOINT_URL: '' }, {}],
  ])('given %j, sets %j', (env, config) => {
    // Prepare / Act
    const chosen = s3ClientConfig(env);

    // Assess
    expect(chosen).toEqual(config);
  });
});

// The pilots of `testbed up --localstack` and the DAQ simulator in LocalStack reach S3 only through the SDK's
// own settings (endpoint, credentials, region from the environment), as here: no client is passed in.
describe('STF store in a bucket of a real S3-compatible server (s3rver), reached through the environment', () => {
  let s3: TestS3;
  const savedEnv: Record<string, string | undefined> = {};

  beforeAll(async () => {
    s3 = await startTestS3();
    for (const key of Object.keys(s3.env)) savedEnv[key] = process.env[key];
    Object.assign(process.env, s3.env);
  });

  afterAll(async () => {
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await s3?.stop();
  });

  it('uploads an STF the DAQ simulator writes and gives a pilot a local copy of it', async () => {
    // Prepare
    const data = Buffer.from('stf contents\n'.repeat(1000));
    const store = stfStoreFor(`s3://${s3.bucket}/testbed`);
    const dir = testDir('stf-cache-');

    // Act
    const url = await store.put('swf.100031.000001.stf', data);
    const local = await localCopyOf(url, { dir });

    // Assess
    expect(url).toBe(`s3://${s3.bucket}/testbed/swf.100031.run/swf.100031.000001.stf`);
    expect(readFileSync(local).equals(data)).toBe(true);
  });

  it('refuses an STF the bucket does not hold, naming the missing key', async () => {
    // Prepare
    const url = `s3://${s3.bucket}/swf.100032.run/swf.100032.000001.stf`;

    // Act
    const copying = localCopyOf(url, { dir: testDir('stf-cache-') });

    // Assess
    await expect(copying).rejects.toThrow(/NoSuchKey|does not exist/);
  });
});
