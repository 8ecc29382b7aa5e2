import * as z from 'zod';
import { normaliseChecksum } from './checksum.ts';
import { parseTimestamp } from './timestamps.ts';

export { normaliseChecksum };

export const msgTypes = [
  'run_imminent',
  'start_run',
  'stf_gen',
  'pause_run',
  'resume_run',
  'end_run',
  'run_stop',
  'stf_ready',
  'slice',
  'slice_result',
  'adjuster_worker',
  'stop_transformer',
  'transformer_start',
  'transformer_heartbeat',
  'transformer_end',
] as const;
export type MsgType = (typeof msgTypes)[number];

export function isMsgType(s: unknown): s is MsgType {
  return (msgTypes as readonly unknown[]).includes(s);
}

/** A timestamp field: any upstream style in, canonical out. */
export const timestamp = z.string().transform((s, ctx) => {
  try {
    return parseTimestamp(s);
  } catch (err) {
    ctx.issues.push({ code: 'custom', message: (err as Error).message, input: s });
    return z.NEVER;
  }
});

const checksum = z.string().transform((s, ctx) => {
  try {
    return normaliseChecksum(s);
  } catch (err) {
    ctx.issues.push({ code: 'custom', message: (err as Error).message, input: s });
    return z.NEVER;
  }
});

// Python producers may send numbers as strings ("4000.0"): accept those and hand out numbers.
const decimalString = z
  .string()
  .regex(/^-?\d+(\.\d+)?$/)
  .transform(Number);
const numeric = z.union([z.number(), decimalString], {
  error: (iss) =>
    iss.input === undefined ? 'required' : `expected a number, got ${JSON.stringify(iss.input)}`,
});
const count = numeric.pipe(z.number().int().min(0));
const amount = numeric.pipe(z.number().min(0));

const base = z.looseObject({
  requested_at: timestamp.optional(),
  processing_start_at: timestamp.optional(),
  processed_at: timestamp.optional(),
});

const workers = {
  num_workers: count,
  num_cores_per_worker: count,
  num_ram_per_core: amount,
};

const agree = (a: unknown, b: unknown) => a === undefined || b === undefined || a === b;

// Upstream agents write `size` or `size_bytes`: expose `size`, keep whichever arrived.
const file = base
  .extend({
    filename: z.string().min(1),
    size: count.optional(),
    size_bytes: count.optional(),
    checksum: checksum.optional(),
  })
  .refine((c) => agree(c.size, c.size_bytes), { message: 'disagrees with size_bytes', path: ['size'] })
  .transform((c) => (c.size === undefined && c.size_bytes !== undefined ? { ...c, size: c.size_bytes } : c));

const pilot = base.extend({ hostname: z.string().optional(), id: z.string().optional() });

export const contentSchemas = {
  run_imminent: base.extend({
    num_workers: workers.num_workers.optional(),
    num_cores_per_worker: workers.num_cores_per_worker.optional(),
    num_ram_per_core: workers.num_ram_per_core.optional(),
  }),
  start_run: base,
  stf_gen: file,
  pause_run: base,
  resume_run: base,
  // Some agents read `total_files`: expose `total_stf_files`, keep whichever arrived.
  end_run: base
    .extend({ total_stf_files: count.optional(), total_files: count.optional() })
    .refine((c) => agree(c.total_stf_files, c.total_files), {
      message: 'disagrees with total_files',
      path: ['total_stf_files'],
    })
    .transform((c) =>
      c.total_stf_files === undefined && c.total_files !== undefined
        ? { ...c, total_stf_files: c.total_files }
        : c,
    ),
  run_stop: base,
  stf_ready: file,
  // A TF range within the STF; both ends inclusive (upstream sends start 0, end 1 with tf_count 2).
  slice: base
    .extend({ slice_id: count, start: count, end: count, filename: z.string().min(1) })
    .refine((c) => c.end >= c.start, { message: 'must not be before start', path: ['end'] }),
  slice_result: base.extend({
    requested_at: timestamp,
    processed_at: timestamp,
    state: z.enum(['done', 'failed']).optional(),
  }),
  adjuster_worker: base.extend({ ...workers, requested_at: timestamp }),
  stop_transformer: base,
  transformer_start: pilot,
  transformer_heartbeat: pilot,
  transformer_end: pilot,
} satisfies Record<MsgType, z.ZodType>;

export type ContentSchemas = typeof contentSchemas;
/** What a handler reads: the parsed, canonical content of type T. */
export type Content<T extends MsgType> = z.output<ContentSchemas[T]>;
/** What a producer may hand to makeMessage for type T (before normalisation). */
export type ContentInput<T extends MsgType> = z.input<ContentSchemas[T]>;

export type RunImminentContent = Content<'run_imminent'>;
export type StartRunContent = Content<'start_run'>;
export type StfGenContent = Content<'stf_gen'>;
export type PauseRunContent = Content<'pause_run'>;
export type ResumeRunContent = Content<'resume_run'>;
export type EndRunContent = Content<'end_run'>;
export type RunStopContent = Content<'run_stop'>;
export type StfReadyContent = Content<'stf_ready'>;
export type SliceContent = Content<'slice'>;
export type SliceResultContent = Content<'slice_result'>;
export type AdjusterWorkerContent = Content<'adjuster_worker'>;
export type StopTransformerContent = Content<'stop_transformer'>;
export type TransformerStartContent = Content<'transformer_start'>;
export type TransformerHeartbeatContent = Content<'transformer_heartbeat'>;
export type TransformerEndContent = Content<'transformer_end'>;
