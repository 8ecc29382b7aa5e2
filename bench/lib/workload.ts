import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerPort } from '#broker/port.ts';
import { type ContentInput, type EncodedMessage, encodeMessage, makeMessage } from '#contract/messages.ts';
import { destinations } from '#routes/destinations.ts';
import { adlerChecksum } from '#stf/checksum.ts';
import { generateStf, stfFileName } from '#stf/format.ts';
import { planSlices } from '#stf/slicing.ts';

/** How the benchmark's slices are cut: the default workflow's 5 slices of an STF of 50 TFs. */
export interface Layout {
  readonly slicesPerStf: number;
  readonly tfsPerStf: number;
  /** Small files: the analysis is real but cheap (zero-cost processing). */
  readonly stfBytes: number;
}

export const defaultLayout: Layout = { slicesPerStf: 5, tfsPerStf: 50, stfBytes: 16_384 };

export interface WrittenStf {
  readonly filename: string;
  readonly sequence: number;
  readonly path: string;
  readonly checksum: string;
}

/** Writes the STF files of sequences `first` .. `first + count - 1` of a run into `store`. */
export function writeStfs(
  store: string,
  runId: string,
  first: number,
  count: number,
  l: Layout,
): WrittenStf[] {
  mkdirSync(store, { recursive: true });
  return Array.from({ length: count }, (_, i) => {
    const sequence = first + i;
    const data = generateStf({ runId, sequence, tfCount: l.tfsPerStf, sizeBytes: l.stfBytes });
    const filename = stfFileName(runId, sequence);
    const path = join(store, filename);
    writeFileSync(path, data);
    return { filename, sequence, path, checksum: adlerChecksum(data) };
  });
}

/** One slice message as stf_ready sends it (inclusive TF range), created now. */
export function sliceMessage(
  runId: string,
  namespace: string,
  stf: WrittenStf,
  range: { sliceId: number; start: number; end: number },
  l: Layout,
): EncodedMessage {
  return encodeMessage(
    makeMessage(
      'slice',
      runId,
      {
        filename: stf.filename,
        slice_id: range.sliceId,
        start: range.start,
        end: range.end - 1,
        tf_count: l.tfsPerStf,
        checksum: stf.checksum,
        url: stf.path,
        slice_processing_time: 0,
      } as ContentInput<'slice'>,
      { namespace },
    ),
  );
}

/** Every slice of the STFs, in order. */
export function slicesOf(stfs: readonly WrittenStf[], l: Layout) {
  const ranges = planSlices(l.tfsPerStf, l.slicesPerStf);
  return stfs.flatMap((stf) => ranges.map((r) => ({ stf, range: r })));
}

/** Publishes already encoded slices to a slice queue (the shared one unless told), a bounded window at a time. */
export async function publishAll(
  broker: BrokerPort,
  bodies: readonly EncodedMessage[],
  destination: string = destinations.slices,
): Promise<void> {
  for (let i = 0; i < bodies.length; i += 1000) {
    await Promise.all(bodies.slice(i, i + 1000).map((m) => broker.publish(destination, m.body, m.headers)));
  }
}
