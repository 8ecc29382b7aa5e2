import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { localStfStore, type StfStore, stfPlace, writeWhole } from './store.ts';

type S3Api = Pick<S3Client, 'send'>;

// Loaded on first use: most processes (a local run, its pilots) never touch S3, and the client costs
// ~60 ms to load and ~20 MB of memory.
const s3Sdk = () => import('@aws-sdk/client-s3');
const newClient = (): Promise<S3Api> =>
  s3Sdk().then(({ S3Client }) => new S3Client(s3ClientConfig(process.env)));

/**
 * The S3 client's settings beyond what the SDK reads from the environment itself (region, credentials,
 * AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL): with an endpoint set (LocalStack, an S3-compatible server) keys
 * go in the path, since such servers do not answer for `<bucket>.<host>` names.
 */
export function s3ClientConfig(env: NodeJS.ProcessEnv): { forcePathStyle?: true } {
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL ? { forcePathStyle: true } : {};
}

/** `s3://bucket/key` -> its parts; undefined for anything else. */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  return match ? { bucket: match[1] as string, key: match[2] as string } : undefined;
}

/** The object key of an STF, grouped by run as the local store's folders are (`swf.<run>.run/<file>`). */
export function stfKey(filename: string, prefix = ''): string {
  const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  return `${base}${stfPlace(filename)}`;
}

export interface S3StfStoreOptions {
  /** Keys start with this (e.g. `testbed/`). @default none */
  readonly prefix?: string;
  /** @default a client for the region of the environment */
  readonly client?: S3Api;
}

/**
 * STF files as objects of a bucket (the AWS mode of the STF store): `put` uploads the whole file in one
 * PutObject, which S3 makes visible complete or not at all, and resolves with its `s3://` URL.
 */
export function s3StfStore(bucket: string, o: S3StfStoreOptions = {}): StfStore {
  let s3: Promise<S3Api> | undefined;
  return {
    async put(filename, data) {
      const key = stfKey(filename, o.prefix);
      const { PutObjectCommand } = await s3Sdk();
      s3 ??= o.client ? Promise.resolve(o.client) : newClient();
      await (await s3).send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: data,
          ContentType: 'application/octet-stream',
        }),
      );
      return `s3://${bucket}/${key}`;
    },
  };
}

/** STF_STORE as the DAQ simulator takes it: `s3://bucket[/prefix]` is a bucket, anything else a folder. */
export function stfStoreFor(location: string, o: { client?: S3Api } = {}): StfStore {
  const s3 = parseS3Url(location);
  if (!s3) return localStfStore(location);
  return s3StfStore(s3.bucket, { prefix: s3.key, ...(o.client && { client: o.client }) });
}

export interface LocalCopyOptions {
  /** Where downloaded STFs are kept. @default `<tmpdir>/stf-cache` */
  readonly dir?: string;
  /** @default a client for the region of the environment */
  readonly client?: S3Api;
}

const copies = new Map<string, Promise<string>>();
let sharedClient: Promise<S3Api> | undefined;

/**
 * A local path for an STF URL, for readers that open files (the transformer): an `s3://` object is
 * downloaded once per process into `dir` (written aside and renamed, so a reader never sees half a file);
 * any other URL or path is returned as it is.
 */
export function localCopyOf(url: string, o: LocalCopyOptions = {}): Promise<string> {
  const s3 = parseS3Url(url);
  if (!s3) return Promise.resolve(url);
  const dir = o.dir ?? path.join(tmpdir(), 'stf-cache');
  const target = path.join(
    dir,
    s3.bucket,
    ...s3.key.split('/').filter((p) => p !== '' && p !== '..' && p !== '.'),
  );
  const cached = copies.get(target);
  if (cached) return cached;
  sharedClient ??= newClient();
  const copying = download(s3, target, o.client ?? sharedClient);
  copies.set(target, copying);
  // A failed download is tried again by the next reader.
  copying.catch(() => copies.delete(target));
  return copying;
}

async function download(
  s3: { bucket: string; key: string },
  target: string,
  client: S3Api | Promise<S3Api>,
): Promise<string> {
  if (
    await stat(target).then(
      (s) => s.isFile(),
      () => false,
    )
  )
    return target;
  const { GetObjectCommand } = await s3Sdk();
  const out = await (await client).send(new GetObjectCommand({ Bucket: s3.bucket, Key: s3.key }));
  if (!out.Body) throw new Error(`s3://${s3.bucket}/${s3.key}: empty response`);
  await writeWhole(target, await out.Body.transformToByteArray());
  return target;
}
