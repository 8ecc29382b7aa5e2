import * as z from 'zod';
import { commandWords } from './command-line.ts';

// The sections and keys the testbed reads from a workflow file, with their defaults.

const nonNegativeInt = (fallback: number) =>
  z.int().nonnegative().default(fallback).describe('a non-negative integer');
const positiveInt = (fallback: number) => z.int().positive().default(fallback).describe('a positive integer');
const nonNegative = (fallback: number) =>
  z.number().nonnegative().default(fallback).describe('a non-negative number');
const positive = (fallback: number) => z.number().positive().default(fallback).describe('a positive number');
const flag = (fallback: boolean) => z.boolean().default(fallback).describe('a boolean');
const text = () => z.string().optional().describe('a string');
const splits = (line: string): boolean => {
  try {
    commandWords(line);
    return true;
  } catch {
    return false;
  }
};
const commandLine = () =>
  z
    .string()
    .refine(splits)
    .default('')
    .describe('a command line: a string whose quotes and backslashes are balanced');

/**
 * The most pilots one run may ask for: the workflow loader refuses a larger target_worker_count and the worker
 * adjuster parks a larger adjuster_worker, so a typo cannot start hundreds of Fargate tasks.
 */
export const MAX_WORKERS_PER_RUN = 64;

// Defaults mirror the shipped TOML: a section present in a workflow replaces the included one whole,
// so the keys it leaves out fall back to these.
export const schemas = {
  testbed: z.looseObject({ namespace: z.string().min(1).describe('a non-empty string') }),
  workflow: z.looseObject({
    name: text(),
    version: text(),
    description: text(),
    includes: z.array(z.string()).default([]).describe('a list of strings'),
  }),
  daq_state_machine: z.looseObject({
    no_beam_not_ready_delay: nonNegative(5),
    beam_not_ready_delay: nonNegative(5),
    beam_ready_delay: nonNegative(2),
    beam_not_ready_end_delay: nonNegative(5),
    broadcast_delay: nonNegative(1),
  }),
  simulation: z.looseObject({
    stf_interval: positive(2.0),
    stf_generation_time: nonNegative(0.1),
    physics_period_duration: nonNegative(10),
    physics_period_count: nonNegativeInt(2),
    standby_duration: nonNegative(2),
    stf_mode: z.enum(['count', 'duration']).default('count').describe('"count" or "duration"'),
    realtime: flag(true),
    stf_count: nonNegativeInt(10),
  }),
  prompt_processing: z.looseObject({
    target_worker_count: z
      .int()
      .nonnegative()
      .max(MAX_WORKERS_PER_RUN)
      .default(2)
      .describe(`an integer from 0 to ${MAX_WORKERS_PER_RUN}, the ceiling of pilots per run`),
    num_cores_per_worker: positiveInt(1),
    num_ram_per_core: nonNegative(2000.0),
    slices_per_stf: positiveInt(5),
    tfs_per_stf: positiveInt(50),
    stf_size_bytes: nonNegativeInt(262144),
    slice_processing_time: nonNegative(0),
    heartbeat_interval: positive(5),
    transformer_idle_timeout: nonNegative(60),
    // What a slice holds and what runs on it: "stf" our synthetic STFs, "fake"/"mock" a wait as upstream's.
    file_type: z.string().min(1).default('stf').describe('a non-empty string'),
    payload_command: commandLine(),
    payload_timeout: positive(600),
    // Where the run's slices are queued: "run", a queue of its own; "shared", the queue upstream's pilots
    // read. Unset: "run", or "shared" when the run starts no pilots of ours (target_worker_count 0).
    slice_queue: z.enum(['run', 'shared']).optional().describe('"run" or "shared"'),
  }),
  fast_processing: z.looseObject({
    enabled: flag(false),
    slices_per_sample: positiveInt(15),
  }),
};

// Sections upstream's workflow files (BNLNPPS/swf-testbed workflows/) carry for their agents and scripts:
// the testbed keeps them unread, and never takes one for a misspelling of its own.
export const upstreamSections: ReadonlySet<string> = new Set(['agents', 'parameters', 'stf_processing']);

export type Schemas = typeof schemas;
export type Section<K extends keyof Schemas> = Readonly<z.output<Schemas[K]>>;
/** A TOML table as read. */
export type Table = Record<string, unknown>;

/** The keys `[section]` takes; [daq_state_machine] also the simulation keys upstream keeps there. */
export function knownKeys(section: keyof Schemas): string[] {
  const own = Object.keys(schemas[section].shape);
  return section === 'daq_state_machine' ? [...own, ...Object.keys(schemas.simulation.shape)] : own;
}

export function isKnownSection(name: string): name is keyof Schemas {
  return Object.hasOwn(schemas, name);
}
