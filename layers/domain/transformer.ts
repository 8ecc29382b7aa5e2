import { existsSync, readFileSync, statSync } from 'node:fs';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { BrokerPort, ReceivedMessage, Subscription } from '#broker/port.ts';
// Types only: the contract (and zod, ~15 MB of a pilot's memory) loads on the rare paths that need it.
import type { ContentInput, Message, SliceContent } from '#contract/messages.ts';
import { nowTimestamp } from '#contract/timestamps.ts';
import { canonicalSlice, normaliseChecksum, stompHeaders } from '#contract/wire.ts';
import { destinations } from '#routes/destinations.ts';
import type { Logger } from '#runtime/log.ts';
import {
  analysePart,
  checkRange,
  type SliceResult,
  StfChecksumError,
  type StfPart,
  type TfRange,
  verifyStf,
} from '#stf/analysis.ts';
import { adlerChecksum } from '#stf/checksum.ts';
import { HEADER_PREFIX_BYTES, headerLengthOf, readHeader, type StfHeader } from '#stf/format.ts';
import { localCopyOf } from '#stf/s3-store.ts';

/** Who the transformer is and how it works; `transformerConfigFromEnv` reads it from a pilot's environment. */
export interface TransformerConfig {
  readonly runId: string;
  readonly pilotId: string;
  readonly taskId?: number;
  /** Slices are selected by run_id and, when set, by namespace. */
  readonly namespace?: string;
  /** Tells restarts of one pilot id apart in the pilots table. */
  readonly attempt?: number;
  /** Folder of STF files, for slices without a `url`. */
  readonly stfStore?: string;
  /** Seconds spent on each slice to emulate reconstruction; a slice's own value wins. @default 0 */
  readonly sliceProcessingTime?: number;
  /** Seconds between heartbeats. @default 5 */
  readonly heartbeatInterval?: number;
  /** Seconds without a slice before the transformer ends itself; 0 never. @default 60 */
  readonly idleTimeout?: number;
  /** @default os.hostname() */
  readonly hostname?: string;
  /** @default process.pid */
  readonly pid?: number;
}

export interface TransformerDeps {
  readonly broker: BrokerPort;
  readonly log: Logger;
}

export interface TransformerSummary {
  readonly slicesDone: number;
  readonly slicesFailed: number;
  /** `stop_transformer`, `sigterm`, `idle_timeout`, or what the caller of stop() gave. */
  readonly reason: string;
}

export interface Transformer {
  readonly stats: { readonly slicesDone: number; readonly slicesFailed: number };
  /** Resolves once transformer_end has been published (the transformer stopped for any reason). */
  readonly ended: Promise<TransformerSummary>;
  /** Stops taking slices, finishes the current one, sends transformer_end. Later calls return the same. */
  stop(reason: string): Promise<TransformerSummary>;
}

const positiveOr = (v: string | undefined, fallback: number): number => {
  const n = v === undefined || v.trim() === '' ? Number.NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
};

/** The pilot's environment, as the worker adjuster's launcher sets it. */
export function transformerConfigFromEnv(env: NodeJS.ProcessEnv): TransformerConfig {
  const runId = env.RUN_ID;
  if (!runId) throw new Error('environment variable RUN_ID is not set: the pilot does not know its run');
  const taskId = env.TASK_ID ? Number(env.TASK_ID) : undefined;
  const attempt = env.PILOT_ATTEMPT ? Number(env.PILOT_ATTEMPT) : undefined;
  return {
    runId,
    pilotId: env.PILOT_ID || `${runId}-p00`,
    ...(Number.isSafeInteger(taskId) && { taskId }),
    ...(env.NAMESPACE && { namespace: env.NAMESPACE }),
    ...(Number.isSafeInteger(attempt) && { attempt }),
    ...(env.STF_STORE && { stfStore: env.STF_STORE }),
    sliceProcessingTime: positiveOr(env.SLICE_PROCESSING_TIME, 0),
    heartbeatInterval: positiveOr(env.HEARTBEAT_INTERVAL, 5),
    idleTimeout: positiveOr(env.IDLE_TIMEOUT, 60),
  };
}

/** A JMS selector string literal. */
const literal = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/**
 * Starts a transformer inside a pilot: announces itself with transformer_start, consumes its run's slices
 * one at a time (prefetch 1, acked only once the slice_result is with the broker, so a pilot that dies
 * mid-slice leaves the slice to another), heartbeats, and on stop_transformer, stop() or an idle timeout
 * drains and sends transformer_end. The broker connection stays open: its owner closes it.
 */
export async function startTransformer(
  config: TransformerConfig,
  deps: TransformerDeps,
): Promise<Transformer> {
  const t = new SliceTransformer(config, deps);
  await t.start();
  return t;
}

type Outcome =
  | { state: 'done'; result: Omit<SliceResult, 'start' | 'end'> }
  | { state: 'failed'; error: string };

class SliceTransformer implements Transformer {
  readonly stats = { slicesDone: 0, slicesFailed: 0 };
  readonly ended: Promise<TransformerSummary>;
  private resolveEnded!: (s: TransformerSummary) => void;
  private rejectEnded!: (e: Error) => void;
  private readonly hostname: string;
  private readonly pid: number;
  private readonly log: Logger;
  private readonly files: StfFiles;
  private slices: Subscription | undefined;
  private control: Subscription | undefined;
  private current: Promise<void> | undefined;
  private stopping: Promise<TransformerSummary> | undefined;
  private lastActivity = Date.now();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly identityFields: ReturnType<SliceTransformer['identity']>;

  constructor(
    private readonly config: TransformerConfig,
    private readonly deps: TransformerDeps,
  ) {
    this.hostname = config.hostname ?? osHostname();
    this.pid = config.pid ?? process.pid;
    this.log = deps.log.child({ run_id: config.runId, pilot_id: config.pilotId });
    this.files = new StfFiles();
    this.identityFields = this.identity();
    this.ended = new Promise((resolve, reject) => {
      this.resolveEnded = resolve;
      this.rejectEnded = reject;
    });
    // Nobody has to await `ended`; stop() hands the same failure to its caller.
    this.ended.catch(() => {});
  }

  async start(): Promise<void> {
    const c = this.config;
    await this.send('transformer_start', { ...this.identity(), pid: this.pid });
    const byRun = `run_id = ${literal(c.runId)}`;
    this.control = this.deps.broker.subscribe(
      destinations.transformer,
      { selector: byRun, ack: 'auto' },
      (m) => this.onControl(m),
    );
    await this.control.ready;
    const selector = c.namespace ? `${byRun} AND namespace = ${literal(c.namespace)}` : byRun;
    this.slices = this.deps.broker.subscribe(
      destinations.slices,
      { selector, ack: 'client-individual', prefetch: 1 },
      (m) => this.onSlice(m),
    );
    await this.slices.ready;
    const heartbeatMs = (c.heartbeatInterval ?? 5) * 1000;
    if (heartbeatMs > 0) this.heartbeatTimer = setInterval(() => this.heartbeat(), heartbeatMs);
    const idleMs = (c.idleTimeout ?? 60) * 1000;
    if (idleMs > 0) {
      // A coarse check instead of a timer reset per slice keeps the slice loop cheap.
      this.lastActivity = Date.now();
      const every = Math.min(1000, Math.max(50, idleMs / 10));
      this.idleTimer = setInterval(() => {
        if (!this.current && Date.now() - this.lastActivity >= idleMs)
          void this.stop('idle_timeout').catch(() => {});
      }, every);
    }
    this.log.info('transformer started', { selector, prefetch: 1 });
  }

  stop(reason: string): Promise<TransformerSummary> {
    this.stopping ??= this.drain(reason);
    return this.stopping;
  }

  private async drain(reason: string): Promise<TransformerSummary> {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.idleTimer);
    try {
      // Unsubscribing first would drop the ack of the slice in hand: finish it, then let go of the queue.
      while (this.current) await this.current;
      await Promise.all([this.slices?.unsubscribe(), this.control?.unsubscribe()]);
      const summary: TransformerSummary = { ...this.stats, reason };
      await this.send('transformer_end', {
        ...this.identity(),
        pid: this.pid,
        slices_done: summary.slicesDone,
        slices_failed: summary.slicesFailed,
        reason,
      });
      this.log.info('transformer ended', { ...summary });
      this.resolveEnded(summary);
      return summary;
    } catch (error) {
      this.rejectEnded(error as Error);
      throw error;
    } finally {
      await this.files.close();
    }
  }

  private identity() {
    const c = this.config;
    return {
      hostname: this.hostname,
      id: c.pilotId,
      pilot_id: c.pilotId,
      ...(c.taskId !== undefined && { task_id: c.taskId }),
      ...(c.attempt !== undefined && { attempt: c.attempt }),
    };
  }

  /**
   * Publishes one of our messages as encodeMessage would encode it, without the contract's validation
   * pass: every value in them is already canonical (the slice's, checked on the way in, and ours). The
   * hot path saves ~30 µs a slice; the contract's receivers validate them all the same.
   */
  private send<T extends 'transformer_start' | 'transformer_heartbeat' | 'transformer_end' | 'slice_result'>(
    type: T,
    content: ContentInput<T>,
  ): Promise<void> {
    const c = this.config;
    const body = JSON.stringify({
      msg_type: type,
      run_id: c.runId,
      created_at: nowTimestamp(),
      ...(c.namespace !== undefined && { namespace: c.namespace }),
      sender: c.pilotId,
      content,
    });
    const headers = stompHeaders({ msg_type: type, run_id: c.runId, namespace: c.namespace });
    return this.deps.broker.publish(destinations.results, body, headers);
  }

  private heartbeat(): void {
    this.send('transformer_heartbeat', {
      ...this.identity(),
      slices_done: this.stats.slicesDone,
      slices_failed: this.stats.slicesFailed,
    }).catch((error: Error) => this.log.warn('heartbeat not sent', { error: error.message }));
  }

  private async onControl(m: ReceivedMessage): Promise<void> {
    // Most of what the topic carries is for other runs or of other types: only a stop for this run is read.
    let peek: { msg_type?: unknown; run_id?: unknown };
    try {
      peek = JSON.parse(m.body);
    } catch {
      peek = {};
    }
    if (peek?.msg_type !== 'stop_transformer' || String(peek.run_id) !== this.config.runId) return;
    let msg: Message;
    try {
      msg = (await contract()).decodeMessage(m.body, { headers: m.headers });
    } catch (error) {
      this.log.warn('unreadable message on the transformer topic ignored', {
        error: (error as Error).message,
      });
      return;
    }
    if (msg.msg_type !== 'stop_transformer' || msg.run_id !== this.config.runId) return;
    this.log.info('stop_transformer received', { created_at: msg.created_at });
    void this.stop('stop_transformer').catch(() => {});
  }

  private onSlice(m: ReceivedMessage): Promise<void> | undefined {
    // Left unacked: the broker hands it to another transformer once this one unsubscribes.
    if (this.stopping) return undefined;
    const work = this.process(m).finally(() => {
      this.current = undefined;
      this.lastActivity = Date.now();
    });
    this.current = work;
    return work;
  }

  private async process(m: ReceivedMessage): Promise<void> {
    const processingStartAt = nowTimestamp();
    let slice: Message<'slice'>;
    try {
      slice = canonicalSlice(m.body, m.headers) ?? (await fullyDecodedSlice(m));
    } catch (error) {
      // Without a readable slice there is nothing to report against: the broker's redelivery policy parks it.
      this.log.warn('unreadable slice refused', { messageId: m.messageId, reason: (error as Error).message });
      m.nack();
      return;
    }
    const c = slice.content;
    const outcome = await this.analyse(c);
    const processedAt = nowTimestamp();
    try {
      await this.send('slice_result', {
        requested_at: slice.created_at,
        processing_start_at: processingStartAt,
        processed_at: processedAt,
        state: outcome.state,
        ...(outcome.state === 'failed' ? { error: outcome.error } : {}),
        ...this.identityFields,
        filename: c.filename,
        slice_id: c.slice_id,
        start: c.start,
        end: c.end,
        ...(outcome.state === 'done' ? { result: outcome.result } : {}),
        // Its delay includes an earlier delivery (a pilot that died or stopped holding it).
        ...(m.redelivered && { redelivered: true }),
      });
    } catch (error) {
      // Closed: the broker redelivers the unacked slice anyway. Refused: the nack has it redelivered and, if
      // every attempt is refused, parked in the dead-letter queue; holding it would block the prefetch of 1.
      this.log.error('slice_result not sent; slice returned to the broker', {
        filename: c.filename,
        slice_id: c.slice_id,
        error: (error as Error).message,
      });
      m.nack();
      return;
    }
    m.ack();
    if (outcome.state === 'done') this.stats.slicesDone++;
    else {
      this.stats.slicesFailed++;
      this.log.warn('slice failed', { filename: c.filename, slice_id: c.slice_id, error: outcome.error });
    }
  }

  private async analyse(c: SliceContent): Promise<Outcome> {
    try {
      const path = await localCopyOf(this.locate(c));
      const checksum = typeof c.checksum === 'string' ? normaliseChecksum(c.checksum) : undefined;
      // Slice ranges are inclusive on the wire, end-exclusive in the STF reader.
      const part = await this.files.read(path, checksum, { start: c.start, end: c.end + 1 });
      const { start: _start, end: _end, ...result } = analysePart(part);
      const seconds = numberOf(c.slice_processing_time) ?? this.config.sliceProcessingTime ?? 0;
      if (seconds > 0) await sleep(seconds * 1000);
      return { state: 'done', result };
    } catch (error) {
      return { state: 'failed', error: error instanceof Error ? error.message : String(error) };
    }
  }

  private readonly located = new Map<string, string>();

  /** The STF's local path: the slice's `url` (a path or file: URL), else the STF store folder. */
  private locate(c: SliceContent): string {
    const url = typeof c.url === 'string' && c.url !== '' ? c.url : undefined;
    if (url) {
      if (url.startsWith('s3://')) return url;
      if (url.startsWith('file:')) return fileURLToPath(url);
      if (isAbsolute(url)) return url;
      if (!/^[a-z][a-z0-9+.-]*:/i.test(url))
        return this.config.stfStore ? join(this.config.stfStore, url) : url;
      throw new Error(`cannot read STF ${url}: only local files are supported`);
    }
    const known = this.located.get(c.filename);
    if (known) return known;
    const store = this.config.stfStore;
    if (!store) throw new Error(`slice of ${c.filename} has no url and STF_STORE is not set`);
    // Stores keep files flat or per run: take whichever exists.
    const perRun = join(store, this.config.runId, c.filename);
    const path = existsSync(perRun) ? perRun : join(store, c.filename);
    this.located.set(c.filename, path);
    return path;
  }
}

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
class StfFiles {
  private static readonly maxFiles = 16;
  private static readonly keepBytes = 32 * 1024 * 1024;
  private static readonly totalKeptBytes = 256 * 1024 * 1024;
  private readonly files = new Map<string, Promise<LoadedStf>>();
  private kept = 0;

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
    if (cached) {
      // Most recently used last, so eviction takes the oldest.
      this.files.delete(key);
      this.files.set(key, cached);
      return cached;
    }
    const loading = loadStf(path, checksum, StfFiles.keepBytes);
    this.files.set(key, loading);
    loading.then(
      (f) => {
        this.kept += f.bytes?.length ?? 0;
        this.evict();
      },
      (error) => {
        if (!(error instanceof StfChecksumError)) this.files.delete(key);
      },
    );
    return loading;
  }

  private evict(): void {
    for (const [key, file] of this.files) {
      if (this.files.size <= StfFiles.maxFiles && this.kept <= StfFiles.totalKeptBytes) return;
      this.files.delete(key);
      void file.then(
        (f) => {
          this.kept -= f.bytes?.length ?? 0;
          // A read still in flight on it finishes first.
          if (f.handle) setTimeout(() => void f.handle?.close().catch(() => {}), 1000);
        },
        () => {},
      );
    }
  }

  async close(): Promise<void> {
    const files = [...this.files.values()];
    this.files.clear();
    this.kept = 0;
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

function numberOf(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** The contract, loaded on first use: a pilot that only sees canonical slices never needs zod. */
const contract = () => import('#contract/messages.ts');

/** The contract's decoding, for slices in any other form; throws ContractError for what it refuses. */
async function fullyDecodedSlice(m: ReceivedMessage): Promise<Message<'slice'>> {
  const { decodeMessage, ContractError } = await contract();
  const msg = decodeMessage(m.body, {
    headers: m.headers,
    receivedAt: Number(m.headers.timestamp) || Date.now(),
  });
  if (msg.msg_type !== 'slice') throw new ContractError(`msg_type "${msg.msg_type}" on the slice queue`);
  return msg;
}
