import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, TomlError } from 'smol-toml';
import * as z from 'zod';
import { commandWords } from './command-line.ts';
import { editDistance, nearestNames, orList } from './nearest-names.ts';

/** The shipped workflow TOML files, found from this module so any working directory works. */
export const workflowsDir: URL = new URL('../../workflows/', import.meta.url);

export interface LoadWorkflowOptions {
  /** Where `SWF_TESTBED_CONFIG` (a testbed TOML overriding key by key) is read. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Command-line overrides, applied last: `{ 'simulation.stf_count': 200 }`. */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

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

// Defaults mirror the shipped TOML: a section present in a workflow replaces the included one whole,
// so the keys it leaves out fall back to these.
const schemas = {
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
    target_worker_count: nonNegativeInt(2),
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
  }),
  fast_processing: z.looseObject({
    enabled: flag(false),
    slices_per_sample: positiveInt(15),
  }),
};

// Sections upstream's workflow files (BNLNPPS/swf-testbed workflows/) carry for their agents and scripts:
// the testbed keeps them unread, and never takes one for a misspelling of its own.
const upstreamSections: ReadonlySet<string> = new Set(['agents', 'parameters', 'stf_processing']);

type Schemas = typeof schemas;
type Section<K extends keyof Schemas> = Readonly<z.output<Schemas[K]>>;
type Table = Record<string, unknown>;

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

/** A value and the file (or `command line`) it came from, so errors can point at what to fix. */
interface Entry {
  value: unknown;
  from: string;
}
interface SourcedSection {
  from: string;
  keys: Map<string, Entry>;
}
type Sourced = Map<string, SourcedSection>;

const COMMAND_LINE = 'command line';

/**
 * Loads a workflow by name (`prompt_processing` -> `workflows/prompt_processing_default.toml`, or
 * `<name>.toml` in workflows/) or by path. Precedence, lowest first: included files (whole sections the
 * including file lacks), the workflow file, `SWF_TESTBED_CONFIG` (key by key), `opts.overrides`.
 */
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

/** `simulation.stf_count=200` -> `['simulation.stf_count', 200]`: the value is read as TOML, else as text. */
export function parseOverride(assignment: string): [string, unknown] {
  const at = assignment.indexOf('=');
  if (at < 0) throw new Error(`${COMMAND_LINE}: override "${assignment}" must look like section.key=value`);
  const raw = assignment.slice(at + 1).trim();
  let value: unknown = raw;
  try {
    value = parse(`value = ${raw}`).value;
  } catch {
    // Unquoted text such as `testbed.namespace=alice` is not a TOML value; take it as a string.
  }
  return [assignment.slice(0, at).trim(), value];
}

/** One line naming what the files set that the testbed does not read, so a typo shows; none if all is read. */
export function unusedKeysLine(cfg: WorkflowConfig): string | undefined {
  const byFile = Object.entries(cfg.unusedKeysByFile).filter(([, keys]) => keys.length > 0);
  if (byFile.length === 0) return undefined;
  return byFile
    .map(([file, keys]) => `${file}: not used by the testbed (kept): ${keys.join(', ')}`)
    .join('; ');
}

/** The keys `[section]` takes; [daq_state_machine] also the simulation keys upstream keeps there. */
function knownKeys(section: keyof Schemas): string[] {
  const own = Object.keys(schemas[section].shape);
  return section === 'daq_state_machine' ? [...own, ...Object.keys(schemas.simulation.shape)] : own;
}

function isKnownSection(name: string): name is keyof Schemas {
  return Object.hasOwn(schemas, name);
}

/** A command-line override must name a key the testbed reads: there a typo is likelier than a purpose. */
function checkOverrideName(section: string, key: string): void {
  const dotted = `${section}.${key}`;
  const sections = Object.keys(schemas) as (keyof Schemas)[];
  // Where the key lives, by each section's own keys: daq_state_machine.stf_count works but is no advice.
  const holding = sections
    .filter((name) => Object.hasOwn(schemas[name].shape, key))
    .map((name) => `${name}.${key}`);
  if (!isKnownSection(section)) {
    const near = nearestNames(section, sections).map((name) =>
      Object.hasOwn(schemas[name].shape, key) ? `${name}.${key}` : `[${name}]`,
    );
    const guesses = [...new Set([...near, ...holding])].slice(0, 3);
    throw new Error(
      guesses.length > 0
        ? `${COMMAND_LINE}: ${dotted} names no section the testbed reads: did you mean ${orList(guesses)}?`
        : `${COMMAND_LINE}: ${dotted} names no section the testbed reads (its sections: ${sections.join(', ')})`,
    );
  }
  const keys = knownKeys(section);
  if (keys.includes(key)) return;
  const near = nearestNames(key, keys).map((name) => `${section}.${name}`);
  const guesses = near.length > 0 ? near : holding.slice(0, 3);
  throw new Error(
    guesses.length > 0
      ? `${COMMAND_LINE}: ${dotted} is not a key of [${section}]: did you mean ${orList(guesses)}?`
      : `${COMMAND_LINE}: ${dotted} is not a key of [${section}] (its keys: ${keys.join(', ')})`,
  );
}

/** A section a file names that is two edits from one of ours, and not upstream's, is a misspelling. */
function checkSectionNames(file: string, tables: Record<string, Table>): void {
  for (const name of Object.keys(tables)) {
    if (isKnownSection(name) || upstreamSections.has(name)) continue;
    const near = Object.keys(schemas).filter((known) => editDistance(name, known) <= 2);
    if (near.length > 0) {
      throw new Error(
        `${label(file)}: [${name}] is not a section the testbed reads: did you mean ${orList(near.map((known) => `[${known}]`))}?`,
      );
    }
  }
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

function readWithIncludes(file: string, chain: readonly string[], sources: string[]): Sourced {
  if (chain.includes(file)) {
    throw new Error(`include cycle: ${[...chain, file].map(label).join(' -> ')}`);
  }
  const from = label(file);
  const tables = readToml(file, `workflow file not found: ${file}`);
  if (!sources.includes(file)) sources.push(file);

  const merged: Sourced = new Map();
  overlay(merged, tables, from);
  for (const include of includesOf(tables, from)) {
    const includedFile = path.resolve(path.dirname(file), include);
    if (!fs.existsSync(includedFile)) {
      throw new Error(`${from}: workflow.includes names a missing file: ${includedFile}`);
    }
    for (const [name, section] of readWithIncludes(includedFile, [...chain, file], sources)) {
      if (!merged.has(name)) merged.set(name, section);
    }
  }
  return merged;
}

function includesOf(tables: Record<string, Table>, from: string): string[] {
  const includes = tables.workflow?.includes ?? [];
  if (!Array.isArray(includes) || !includes.every((include) => typeof include === 'string')) {
    throw new Error(`${from}: workflow.includes must be a list of strings (got ${show(includes)})`);
  }
  return includes;
}

function readToml(file: string, notFound: string): Record<string, Table> {
  let source: string;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(notFound);
    throw error;
  }
  let document: Table;
  try {
    document = parse(source);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const reason = error.message.split('\n')[0]?.replace(/^Invalid TOML document: /, '');
    throw new Error(
      `${label(file)}:${error.line}:${error.column}: invalid TOML: ${reason}\n${error.codeblock}`,
      {
        cause: error,
      },
    );
  }
  for (const [key, value] of Object.entries(document)) {
    if (!isTable(value)) throw new Error(`${label(file)}: top-level key "${key}" must sit under a [section]`);
  }
  checkSectionNames(file, document as Record<string, Table>);
  return document as Record<string, Table>;
}

/** Key-level merge: each key of `tables` replaces the same key in `merged`. */
function overlay(merged: Sourced, tables: Record<string, Table>, from: string): void {
  for (const [name, table] of Object.entries(tables)) {
    let section = merged.get(name);
    if (!section) {
      section = { from, keys: new Map() };
      merged.set(name, section);
    }
    for (const [key, value] of Object.entries(table)) section.keys.set(key, { value, from });
  }
}

function overridesToTables(overrides: [string, unknown][]): Record<string, Table> {
  const tables: Record<string, Table> = {};
  for (const [dotted, value] of overrides) {
    const dot = dotted.indexOf('.');
    if (dot <= 0 || dot === dotted.length - 1) {
      throw new Error(`${COMMAND_LINE}: override "${dotted}" must be named section.key`);
    }
    const section = dotted.slice(0, dot);
    checkOverrideName(section, dotted.slice(dot + 1));
    tables[section] ??= {};
    tables[section][dotted.slice(dot + 1)] = value;
  }
  return tables;
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

/** A path as a person would type it: relative when under the working directory. */
function label(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
