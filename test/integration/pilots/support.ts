import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerPort } from '#broker/port.ts';
import {
  type ContentInput,
  decodeMessage,
  encodeMessage,
  type Message,
  makeMessage,
} from '#contract/messages.ts';
import { createLogger, type Logger } from '#log/logger.ts';
import { destinations } from '#routes/destinations.ts';
import { adlerChecksum } from '#stf/checksum.ts';
import { generateStf, stfFileName } from '#stf/format.ts';
import { planSlices } from '#stf/slicing.ts';

/** A quiet logger whose lines a test can read. */
export function memoryLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return Object.assign(
    createLogger({}, (l) => lines.push(JSON.parse(l))),
    { lines },
  );
}

export interface WrittenStf {
  readonly runId: string;
  readonly filename: string;
  readonly path: string;
  readonly data: Buffer;
  readonly checksum: string;
  readonly tfCount: number;
}

/** A real STF file in `store`. */
export function writeStf(
  store: string,
  runId: string,
  sequence = 1,
  tfCount = 10,
  sizeBytes = 24_000,
): WrittenStf {
  const data = generateStf({ runId, sequence, tfCount, sizeBytes });
  const filename = stfFileName(runId, sequence);
  mkdirSync(store, { recursive: true });
  const path = join(store, filename);
  writeFileSync(path, data);
  return { runId, filename, path, data, checksum: adlerChecksum(data), tfCount };
}

/** The slice messages stf_ready would send for an STF (inclusive ends on the wire). */
export function sliceMessages(
  stf: WrittenStf,
  o: {
    namespace: string;
    slices?: number;
    checksum?: string;
    url?: string | null;
    sliceProcessingTime?: number;
  },
): Message<'slice'>[] {
  return planSlices(stf.tfCount, o.slices ?? 5).map((r) =>
    makeMessage(
      'slice',
      stf.runId,
      {
        filename: stf.filename,
        slice_id: r.sliceId,
        start: r.start,
        end: r.end - 1,
        tf_count: stf.tfCount,
        checksum: o.checksum ?? stf.checksum,
        ...(o.url !== null && { url: o.url ?? stf.path }),
        ...(o.sliceProcessingTime !== undefined && { slice_processing_time: o.sliceProcessingTime }),
      } as ContentInput<'slice'>,
      { namespace: o.namespace },
    ),
  );
}

export async function publishSlices(broker: BrokerPort, slices: readonly Message<'slice'>[]): Promise<void> {
  await Promise.all(
    slices.map((s) => {
      const { body, headers } = encodeMessage(s);
      return broker.publish(destinations.slices, body, headers);
    }),
  );
}

/** Decoded bodies of captured messages of one type. */
export function ofType<T extends Message['msg_type']>(
  received: readonly { body: string }[],
  type: T,
): Message<T>[] {
  return received.map((m) => decodeMessage(m.body)).filter((m) => m.msg_type === type) as Message<T>[];
}

export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
