// What a transformer runs on a slice, one payload per slice, chosen as upstream's pilots choose theirs.
import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { commandWords } from '#config/command-line.ts';
// Types only: the contract (and zod) stays out of a pilot's hot path.
import type { SliceContent } from '#contract/messages.ts';
import { numberOf } from '#contract/numbers.ts';
import { normaliseChecksum } from '#contract/wire.ts';
import { isTransient } from '#messaging/failures.ts';
import { analysePart } from '#stf/analysis.ts';
import { StfFileCache } from '#stf/file-cache.ts';
import { localCopyOf } from '#stf/s3-store.ts';
import type { PayloadOutcome } from './payload-command.ts';

export type { PayloadOutcome };

/** The transformer's settings a payload uses. */
export interface PayloadSettings {
  readonly runId: string;
  /** Folder of STF files (or `s3://bucket`), for slices without a `url`. */
  readonly stfStore?: string;
  /** Seconds a slice takes when the slice does not say. @default 0 */
  readonly sliceProcessingTime?: number;
  /** The user's command line; empty or absent: the built-in analysis of synthetic STFs. */
  readonly payloadCommand?: string;
  /** Seconds a payload command may run. @default 600 */
  readonly payloadTimeout?: number;
  /** Payload commands write under `<payloadOutputDir>/<run_id>`. @default defaultPayloadOutputDir() */
  readonly payloadOutputDir?: string;
  /** Seconds a slice waits for its STF while the store is away (unmounted, moved, unreadable). @default 60 */
  readonly stfPatience?: number;
}

/** How a file store that is away for a while answers: worth waiting for, not a failure of the slice yet. */
const storeAway = (error: unknown): boolean =>
  ['ENOENT', 'EACCES', 'EPERM', 'EIO', 'ESTALE', 'ENOTCONN'].includes(
    (error as NodeJS.ErrnoException | null)?.code ?? '',
  ) || isTransient(error);

/** Slice file types that hold nothing to read: the payload only takes its time (upstream's fake payload). */
export const WAITING_FILE_TYPES: readonly string[] = ['fake', 'mock'];

export const defaultPayloadOutputDir = (): string => join(tmpdir(), 'swf-payload-output');

/** The payload command module, loaded by pilots that have a command only. */
const commandModule = () => import('./payload-command.ts');

/**
 * A slice's payload: for `file_type` fake or mock a wait of `slice_processing_time` (the slice's, else the
 * pilot's) that reads nothing; otherwise the configured command, or, with none, the built-in analysis of
 * the slice's TF range of a synthetic STF (followed by that wait, to emulate reconstruction time).
 */
export class SlicePayloads {
  private readonly files = new StfFileCache();
  private readonly located = new Map<string, string>();
  private readonly command: { words: string[] } | { error: string } | undefined;

  constructor(private readonly settings: PayloadSettings) {
    const line = settings.payloadCommand?.trim();
    if (!line) return;
    // A command that cannot be read fails each slice with the reason, where the run's results show it.
    try {
      const words = commandWords(line);
      this.command = words.length > 0 ? { words } : undefined;
    } catch (error) {
      this.command = { error: `payload command: ${(error as Error).message}` };
    }
  }

  run(c: SliceContent): Promise<PayloadOutcome> {
    if (typeof c.file_type === 'string' && WAITING_FILE_TYPES.includes(c.file_type)) return this.wait(c);
    if (this.command) return this.runCommand(c, this.command);
    return this.analyse(c);
  }

  /** Lets go of the STF files held open. */
  close(): Promise<void> {
    return this.files.close();
  }

  /**
   * Reads again, with back-off, while the STF store is away, for `stfPatience` seconds at most: the slice
   * stalls with its pilot and goes on when the store is back, rather than failing at once.
   */
  private async whileStoreAway<T>(read: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.settings.stfPatience ?? 60) * 1000;
    for (let waitMs = 250; ; waitMs = Math.min(waitMs * 2, 5_000)) {
      try {
        return await read();
      } catch (error) {
        if (!storeAway(error) || Date.now() + waitMs > deadline) throw error;
        await sleep(waitMs);
      }
    }
  }

  private seconds(c: SliceContent): number {
    const given = numberOf(c.slice_processing_time);
    return given !== undefined && given >= 0 ? given : (this.settings.sliceProcessingTime ?? 0);
  }

  private async wait(c: SliceContent): Promise<PayloadOutcome> {
    const began = performance.now();
    const seconds = this.seconds(c);
    if (seconds > 0) await sleep(seconds * 1000);
    const took = Math.round(performance.now() - began) / 1000;
    return {
      state: 'done',
      result: { file_type: c.file_type, processed: true, actual_processing_time: took },
    };
  }

  private async analyse(c: SliceContent): Promise<PayloadOutcome> {
    try {
      const checksum = typeof c.checksum === 'string' ? normaliseChecksum(c.checksum) : undefined;
      // Slice ranges are inclusive on the wire, end-exclusive in the STF reader.
      const range = { start: c.start, end: c.end + 1 };
      const part = await this.whileStoreAway(async () =>
        this.files.read(await localCopyOf(this.locate(c)), checksum, range),
      );
      const { start: _start, end: _end, ...result } = analysePart(part);
      const seconds = this.seconds(c);
      if (seconds > 0) await sleep(seconds * 1000);
      return { state: 'done', result };
    } catch (error) {
      return { state: 'failed', error: error instanceof Error ? error.message : String(error) };
    }
  }

  private async runCommand(
    c: SliceContent,
    command: { words: string[] } | { error: string },
  ): Promise<PayloadOutcome> {
    if ('error' in command) return { state: 'failed', error: command.error };
    try {
      const url = urlOf(c);
      // A URL we cannot fetch (root://, https://) goes to the command as it is: it may know how to read it.
      const stf =
        url && isForeign(url)
          ? url
          : await this.whileStoreAway(async () => {
              const path = await localCopyOf(this.locate(c));
              await access(path, constants.R_OK);
              return path;
            });
      const s = this.settings;
      const { runPayloadCommand } = await commandModule();
      return await runPayloadCommand(
        {
          words: command.words,
          timeoutS: s.payloadTimeout ?? 600,
          outputDir: s.payloadOutputDir ?? defaultPayloadOutputDir(),
        },
        {
          stf,
          url: url ?? stf,
          runId: s.runId,
          sliceId: c.slice_id,
          start: c.start,
          end: c.end,
          filename: c.filename,
          content: c,
        },
      );
    } catch (error) {
      return { state: 'failed', error: error instanceof Error ? error.message : String(error) };
    }
  }

  /** The STF's local path or s3:// URL: the slice's `url` (a path or file: URL), else the STF store. */
  private locate(c: SliceContent): string {
    const url = urlOf(c);
    if (url) {
      if (url.startsWith('s3://')) return url;
      if (url.startsWith('file:')) return fileURLToPath(url);
      if (isAbsolute(url)) return url;
      if (!isForeign(url)) return this.settings.stfStore ? join(this.settings.stfStore, url) : url;
      throw new Error(`cannot read STF ${url}: only local files are supported`);
    }
    const known = this.located.get(c.filename);
    if (known) return known;
    const store = this.settings.stfStore;
    if (!store) throw new Error(`slice of ${c.filename} has no url and STF_STORE is not set`);
    // Stores keep files per run as upstream does (`swf.<run>.run/`), per run id, or flat: take whichever exists.
    const candidates = [`swf.${this.settings.runId}.run`, this.settings.runId].map((d) =>
      join(store, d, c.filename),
    );
    const found = candidates.find((p) => existsSync(p));
    // Not remembered until found: the store may be away for a while.
    if (found) this.located.set(c.filename, found);
    return found ?? join(store, c.filename);
  }
}

const urlOf = (c: SliceContent): string | undefined =>
  typeof c.url === 'string' && c.url !== '' ? c.url : undefined;

/** A URL of a scheme other than s3: and file:, which the transformer does not fetch. */
const isForeign = (url: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(url) && !/^(s3|file):/i.test(url);
