import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it, test } from 'vitest';
import { localCopyOf, parseS3Url, s3StfStore, stfKey, stfStoreFor } from '#stf/s3-store.ts';

/** A bucket in memory behind the two calls the store makes. */
function fakeS3() {
  const objects = new Map<string, Buffer>();
  let gets = 0;
  const send = async (command: { input: { Bucket: string; Key: string; Body?: Buffer } }) => {
    const key = `${command.input.Bucket}/${command.input.Key}`;
    if (command instanceof PutObjectCommand) {
      objects.set(key, Buffer.from(command.input.Body as Buffer));
      return {};
    }
    if (command instanceof GetObjectCommand) {
      gets++;
      const data = objects.get(key);
      if (!data) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
      return { Body: { transformToByteArray: async () => new Uint8Array(data) } };
    }
    throw new Error('unexpected command');
  };
  return { objects, gets: () => gets, client: { send } as unknown as Pick<S3Client, 'send'> };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('Function: s3StfStore', () => {
  it('writes an STF under its run, as the local store does, and answers its s3 URL', async () => {
    // Prepare
    const s3 = fakeS3();
    const store = s3StfStore('stf-bucket', { client: s3.client });

    // Act
    const url = await store.put('swf.100012.000001.stf', Buffer.from('data'));

    // Assess
    expect(url).toBe('s3://stf-bucket/swf.100012.run/swf.100012.000001.stf');
    expect(s3.objects.get('stf-bucket/swf.100012.run/swf.100012.000001.stf')?.toString()).toBe('data');
  });

  test.each(['../x.stf', 'a/b.stf', '', '..'])('refuses %j as an STF name', (name) => {
    // Prepare
    const make = () => stfKey(name);

    // Act / Assess
    expect(make).toThrow('not a plain file name');
  });

  it('takes STF_STORE=s3://bucket/prefix for a bucket and anything else for a folder', async () => {
    // Prepare
    const s3 = fakeS3();
    const folder = mkdtempSync(join(tmpdir(), 'stf-'));
    dirs.push(folder);

    // Act
    const inBucket = await stfStoreFor('s3://b/testbed', { client: s3.client }).put(
      'x.stf',
      Buffer.from('1'),
    );
    const inFolder = await stfStoreFor(folder).put('x.stf', Buffer.from('2'));

    // Assess
    expect(inBucket).toBe('s3://b/testbed/x.stf');
    expect(readFileSync(inFolder, 'utf8')).toBe('2');
    expect(parseS3Url('/tmp/x')).toBeUndefined();
  });
});

describe('Function: localCopyOf', () => {
  it('downloads an s3 STF once and gives its local path; a local path stays as it is', async () => {
    // Prepare
    const s3 = fakeS3();
    const dir = mkdtempSync(join(tmpdir(), 'stf-cache-'));
    dirs.push(dir);
    const url = await s3StfStore('b', { client: s3.client }).put('swf.7.000001.stf', Buffer.from('tf data'));

    // Act
    const [first, second] = await Promise.all([
      localCopyOf(url, { dir, client: s3.client }),
      localCopyOf(url, { dir, client: s3.client }),
    ]);
    const local = await localCopyOf('/data/swf.7.000001.stf', { dir, client: s3.client });

    // Assess
    expect(first).toBe(join(dir, 'b', 'swf.7.run', 'swf.7.000001.stf'));
    expect(second).toBe(first);
    expect(readFileSync(first, 'utf8')).toBe('tf data');
    expect(s3.gets()).toBe(1);
    expect(local).toBe('/data/swf.7.000001.stf');
  });

  it('tries a failed download again on the next read', async () => {
    // Prepare
    const s3 = fakeS3();
    const dir = mkdtempSync(join(tmpdir(), 'stf-cache-'));
    dirs.push(dir);
    const url = 's3://b/swf.8.run/swf.8.000001.stf';
    await expect(localCopyOf(url, { dir, client: s3.client })).rejects.toThrow('NoSuchKey');

    // Act
    s3.objects.set('b/swf.8.run/swf.8.000001.stf', Buffer.from('late'));
    const path = await localCopyOf(url, { dir, client: s3.client });

    // Assess
    expect(existsSync(path)).toBe(true);
  });
});
