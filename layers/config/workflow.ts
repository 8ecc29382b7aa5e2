import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as z from 'zod';
import type { SliceQueue } from '#routes/destinations.ts';
import { label, overlay, readToml, readWithIncludes, type Sourced, show } from './workflow-files.ts';
import { COMMAND_LINE, overridesToTables } from './workflow-overrides.ts';
import {
  isKnownSection,
  knownKeys,
  type Schemas,
  type Section,
  schemas,
  type Table,
} from './workflow-schema.ts';

export { parseOverride } from './workflow-overrides.ts';

/** The shipped workflow TOML files, found from this module so any working directory works. */
export const workflowsDir: URL = new URL('../../workflows/', import.meta.url);

export interface LoadWorkflowOptions {
  /** Where `SWF_TESTBED_CONFIG` (a testbed TOML overriding key by key) is read. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Command-line overrides, applied last: `{ 'simulation.stf_count': 200 }`. */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** A workflow with its includes, the testbed file and the command line applied, validated and frozen. */
export interface WorkflowConfig {
  /** `[workflow] name`, else the file name without `_default.toml`. */
  readonly name: string;
  /** Absolute path of the workflow file. */
  readonly file: string;
  readonly testbed: Section<'testbed'>;
  readonly workflow: Section<'workflow'>;
  readonly daqStateMachine: Section<'daq_state_machine'>;
  readonly simulation: Section<'simulation'>;
  readonly promptProcessing: Section<'prompt_processing'>;
  readonly fastProcessing: Section<'fast_processing'>;
  /** Sections this loader does not know, by their TOML name (e.g. `agents`). */
  readonly extraSections: Readonly<Record<string, Readonly<Table>>>;
  /** What the files set that the testbed does not read, kept: `section.key`, or `section` when unknown whole. */
  readonly unusedKeys: readonly string[];
  /** The same, by the file (as labelled in errors) that set them, files in the order read. */
  readonly unusedKeysByFile: Readonly<Record<string, readonly string[]>>;
  /** Files read (absolute paths) in the order read, then `command line` if overrides were given. */
  readonly sources: readonly string[];
}

/**
 * Loads a workflow by name (`prompt_processing` -> `workflows/prompt_processing_default.toml`, or
 * `<name>.toml` in workflows/) or by path. Precedence, lowest first: included files (whole sections the
 * including file lacks), the workflow file, `SWF_TESTBED_CONFIG` (key by key), `opts.overrides`.
 */
/**
 * Where a run of the workflow queues its slices: as `slice_queue` says, else on a queue of the run's own,
 * unless the run starts no pilots of ours, when upstream's pilots are the ones to serve it.
 */
export function sliceQueueFor(w: WorkflowConfig): SliceQueue {
  const pp = w.promptProcessing;
  return pp.slice_queue ?? (pp.target_worker_count === 0 ? 'shared' : 'run');
}

export function loadWorkflow(nameOrPath: string, opts: LoadWorkflowOptions = {}): WorkflowConfig {
  const file = resolveWorkflowFile(nameOrPath);
  const sources: string[] = [];
  const merged = readWithIncludes(file, [], sources);

  const testbedFile = (opts.env ?? process.env).SWF_TESTBED_CONFIG;
  if (testbedFile) {
    const resolved = path.resolve(testbedFile);
    const tables = readToml(resolved, `SWF_TESTBED_CONFIG names a missing file: ${resolved}`);
    overlay(merged, tables, label(resolved));
    sources.push(resolved);
  }

  const overrides = Object.entries(opts.overrides ?? {});
  if (overrides.length > 0) {
    overlay(merged, overridesToTables(overrides), COMMAND_LINE);
    sources.push(COMMAND_LINE);
  }

  return deepFreeze(validate(file, merged, sources));
}

/** One line naming what the files set that the testbed does not read, so a typo shows; none if all is read. */
export function unusedKeysLine(cfg: WorkflowConfig): string | undefined {
  const byFile = Object.entries(cfg.unusedKeysByFile).filter(([, keys]) => keys.length > 0);
  if (byFile.length === 0) return undefined;
  return byFile
    .map(([file, keys]) => `${file}: not used by the testbed (kept): ${keys.join(', ')}`)
    .join('; ');
}

function resolveWorkflowFile(nameOrPath: string): string {
  const dir = fileURLToPath(workflowsDir);
  const isBareName = path.basename(nameOrPath) === nameOrPath;
  const candidates = !isBareName
    ? [path.resolve(nameOrPath)]
    : nameOrPath.endsWith('.toml')
      ? [path.join(dir, nameOrPath), path.resolve(nameOrPath)]
      : [path.join(dir, `${nameOrPath}_default.toml`), path.join(dir, `${nameOrPath}.toml`)];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (!found) throw new Error(`workflow "${nameOrPath}" not found: no file at ${candidates.join(' or ')}`);
  return found;
}

function validate(file: string, merged: Sourced, sources: string[]): WorkflowConfig {
  const plain = (name: string): Table =>
    Object.fromEntries([...(merged.get(name)?.keys ?? [])].map(([key, entry]) => [key, entry.value]));
  // Upstream's DAQ simulator starts from [daq_state_machine] and merges every other parameter section over
  // it, so its files keep stf_interval and the physics periods there: such a key counts unless [simulation]
  // sets it too.
  const fromDaq = (name: string, key: string) =>
    name === 'simulation' && !merged.get(name)?.keys.has(key) && Object.hasOwn(schemas.simulation.shape, key)
      ? merged.get('daq_state_machine')?.keys.get(key)
      : undefined;
  const input = (name: string): Table => {
    const daq = Object.keys(schemas.simulation.shape).flatMap((key) => {
      const entry = fromDaq(name, key);
      return entry ? [[key, entry.value] as const] : [];
    });
    return { ...Object.fromEntries(daq), ...plain(name) };
  };

  const parsed = Object.fromEntries(
    Object.entries(schemas).map(([name, schema]) => {
      const result = schema.safeParse(input(name));
      if (result.success) return [name, result.data];
      const key = String(result.error.issues[0]?.path[0]);
      const section = merged.get(name);
      const daqEntry = section?.keys.has(key) ? undefined : fromDaq(name, key);
      const entry = section?.keys.get(key) ?? daqEntry;
      const shown = daqEntry ? 'daq_state_machine' : name;
      const where = entry?.from ?? section?.from ?? label(file);
      const expected = (schema.shape as Record<string, z.ZodType>)[key]?.description;
      throw new Error(
        entry === undefined
          ? `${where}: ${shown}.${key} is required and must be ${expected}`
          : `${where}: ${shown}.${key} must be ${expected} (got ${show(entry.value)})`,
      );
    }),
  ) as { [K in keyof Schemas]: z.output<Schemas[K]> };

  const extraSections = Object.fromEntries(
    [...merged.keys()].filter((name) => !isKnownSection(name)).map((name) => [name, plain(name)]),
  );

  const unusedKeysByFile = unusedKeysOf(merged, sources);

  return {
    name: parsed.workflow.name ?? path.basename(file, '.toml').replace(/_default$/, ''),
    file,
    testbed: parsed.testbed,
    workflow: parsed.workflow,
    daqStateMachine: parsed.daq_state_machine,
    simulation: parsed.simulation,
    promptProcessing: parsed.prompt_processing,
    fastProcessing: parsed.fast_processing,
    extraSections,
    unusedKeys: [...new Set(Object.values(unusedKeysByFile).flat())],
    unusedKeysByFile,
    sources,
  };
}

/** What the files set that the testbed does not read, by file in the order read: dotted, whole sections bare. */
function unusedKeysOf(merged: Sourced, sources: readonly string[]): Record<string, string[]> {
  const byFile: Record<string, string[]> = {};
  const unused = (from: string, name: string) => {
    byFile[from] ??= [];
    if (!byFile[from].includes(name)) byFile[from].push(name);
  };
  for (const [name, section] of merged) {
    if (!isKnownSection(name)) {
      if (section.keys.size === 0) unused(section.from, name);
      for (const entry of section.keys.values()) unused(entry.from, name);
      continue;
    }
    const keys = knownKeys(name);
    for (const [key, entry] of section.keys) if (!keys.includes(key)) unused(entry.from, `${name}.${key}`);
  }
  const order = sources.map(label);
  return Object.fromEntries(Object.entries(byFile).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
