import { readFileSync, statSync } from 'node:fs';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import { checkRange, StfChecksumError, type StfPart, type TfRange, verifyStf } from './analysis.ts';
import { adlerChecksum } from './checksum.ts';
import { HEADER_PREFIX_BYTES, headerLengthOf, readHeader, type StfHeader } from './format.ts';

/** STF files up to this size are read without leaving the event loop. */
const syncReadBytes = 4 * 1024 * 1024;

/** An STF ready for slice reads: its bytes when small enough to keep, else an open file. */
interface LoadedStf {
  readonly header: StfHeader;
  readonly bytes?: Buffer;
  readonly handle?: FileHandle;
}

/**
 * STF files with their headers, each checksum-verified once: one read per slice at most. A verified file
 * up to `keepBytes` stays in memory (verifying read it whole anyway), so a slice costs no I/O at all.
 */
export class StfFileCache {
  private static readonly maxFiles = 16;
  private static readonly keepBytes = 32 * 1024 * 1024;
  private static readonly totalKeptBytes = 256 * 1024 * 1024;
  private closing = false;
  /** Least recently used files go first; a file's size is the bytes it keeps (1 while loading or when open). */
  private readonly files = new LRUCache<string, Promise<LoadedStf>>({
    max: StfFileCache.maxFiles,
    maxSize: StfFileCache.totalKeptBytes,
    sizeCalculation: () => 1,
    dispose: (file) => {
      if (this.closing) return;
      // A read still in flight on it finishes first.
      void file.then(
        (f) => f.handle && setTimeout(() => void f.handle?.close().catch(() => {}), 1000),
        () => {},
      );
    },
  });

  async read(path: string, checksum: string | undefined, range: TfRange): Promise<StfPart> {
    const { header, bytes, handle } = await this.load(path, checksum);
    checkRange(header, range);
    const { start, end } = range;
    const position = header.headerLength + start * header.bytesPerTf;
    const length = (end - start) * header.bytesPerTf;
    if (bytes) {
      if (bytes.length < position + length)
        throw new Error(`${path} truncated: TFs need ${position + length} bytes`);
      return { header, range, tfs: bytes.subarray(position, position + length) };
    }
    const tfs = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await (handle as FileHandle).read(tfs, done, length - done, position + done);
      if (bytesRead === 0) throw new Error(`${path} truncated: no bytes at offset ${position + done}`);
      done += bytesRead;
    }
    return { header, range, tfs };
  }

  /** Once per file and checksum; a mismatch is remembered (STFs do not change), other errors are retried. */
  private load(path: string, checksum: string | undefined): Promise<LoadedStf> {
    const key = `${path}\n${checksum ?? ''}`;
    const cached = this.files.get(key);
    if (cached) return cached;
    const loading = loadStf(path, checksum, StfFileCache.keepBytes);
    this.files.set(key, loading);
    loading.then(
      (f) => {
        // Sized now that its kept bytes are known, unless it was evicted meanwhile.
        if (this.files.peek(key) === loading)
          this.files.set(key, loading, { size: Math.max(1, f.bytes?.length ?? 0) });
      },
      (error) => {
        if (!(error instanceof StfChecksumError) && this.files.peek(key) === loading) this.files.delete(key);
      },
    );
    return loading;
  }

  async close(): Promise<void> {
    const files = [...this.files.values()];
    this.closing = true;
    this.files.clear();
    this.closing = false;
    await Promise.all(files.map((f) => f.then((o) => o.handle?.close()).catch(() => {})));
  }
}

async function loadStf(path: string, checksum: string | undefined, keepBytes: number): Promise<LoadedStf> {
  // Synchronous for the usual small files: one system call each instead of a round trip to the thread pool.
  const size = statSync(path).size;
  if (checksum !== undefined && size <= keepBytes) {
    const bytes = size <= syncReadBytes ? readFileSync(path) : await readFile(path);
    const actual = adlerChecksum(bytes);
    if (actual !== checksum.toLowerCase()) throw new StfChecksumError(path, checksum, actual);
    return { header: readHeader(bytes), bytes };
  }
  if (checksum !== undefined) await verifyStf(path, checksum);
  const handle = await open(path, 'r');
  try {
    const prefix = Buffer.alloc(HEADER_PREFIX_BYTES);
    await handle.read(prefix, 0, HEADER_PREFIX_BYTES, 0);
    const headerBytes = Buffer.alloc(headerLengthOf(prefix));
    await handle.read(headerBytes, 0, headerBytes.length, 0);
    return { header: readHeader(headerBytes), handle };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
