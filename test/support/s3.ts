import type { AddressInfo } from 'node:net';
// @ts-expect-error s3rver ships no types; the three calls used here are typed below.
import S3rver from 's3rver';
import { testDir } from './temp.ts';

/** A real S3-compatible server (s3rver) on loopback, standing in for LocalStack's or AWS's S3. */
export interface TestS3 {
  /** Its endpoint, for AWS_ENDPOINT_URL_S3. */
  readonly url: string;
  readonly bucket: string;
  /** What a process needs to reach it with the SDK's own settings (credentials: s3rver takes S3RVER's). */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

interface S3rverServer {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** Starts s3rver on a free port over a fresh folder, with one bucket made. */
export async function startTestS3(bucket = 'stf-bucket'): Promise<TestS3> {
  const server: S3rverServer = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: testDir('s3rver-'),
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    bucket,
    // s3rver checks signatures against its fixed key pair, as LocalStack takes `test`/`test`.
    env: {
      AWS_ENDPOINT_URL_S3: url,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
    },
    stop: () => server.close(),
  };
}
