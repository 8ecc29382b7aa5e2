import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where the DAQ simulator puts the STF files it generates. Kept small so an S3 store can join the local one:
 * `put` returns the URL readers open (an absolute file path locally).
 */
export interface StfStore {
  /** Stores the whole file and resolves with its URL once readers can see it complete. */
  put(filename: string, data: Buffer): Promise<string>;
  /** The local path of a file, for stores that have one. */
  path?(filename: string): string;
}

/**
 * Where a store keeps an STF, below its root: grouped by run as upstream does (`swf.<run_id>.run/<filename>`);
 * the run comes from the file name (`swf.<run_id>.<seq>.stf`), other names stay at the root.
 */
export function stfPlace(filename: string): string {
  if (filename !== path.basename(filename) || filename === '.' || filename === '..' || filename === '') {
    throw new Error(`not a plain file name: ${JSON.stringify(filename)}`);
  }
  const run = /^swf\.([^.]+)\./.exec(filename)?.[1];
  return run === undefined ? filename : `swf.${run}.run/${filename}`;
}

/**
 * Writes a file aside and renames it, so a reader never sees half a file; a repeated write (even a concurrent
 * one, from a retried invocation) replaces it whole.
 */
export async function writeWhole(target: string, data: Uint8Array): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const partial = `${target}.${randomUUID()}.partial`;
  try {
    await writeFile(partial, data);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/** STF files in a local folder, placed as `stfPlace` says. */
export function localStfStore(dir: string): StfStore {
  const root = path.resolve(dir);
  const pathOf = (filename: string): string => path.join(root, stfPlace(filename));
  return {
    path: pathOf,
    async put(filename, data) {
      const target = pathOf(filename);
      await writeWhole(target, data);
      return target;
    },
  };
}
