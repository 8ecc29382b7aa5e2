import fs from 'node:fs';
import path from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { editDistance, orList } from './nearest-names.ts';
import { isKnownSection, schemas, type Table, upstreamSections } from './workflow-schema.ts';

// Reading workflow TOML files and their includes into sections whose every key remembers its file.

/** A value and the file (or `command line`) it came from, so errors can point at what to fix. */
export interface Entry {
  value: unknown;
  from: string;
}
export interface SourcedSection {
  from: string;
  keys: Map<string, Entry>;
}
export type Sourced = Map<string, SourcedSection>;

/** `file` and the files it includes, an included section taken only where the including file lacks it. */
export function readWithIncludes(file: string, chain: readonly string[], sources: string[]): Sourced {
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

/** A TOML file's sections; `notFound` is the error when there is no such file. */
export function readToml(file: string, notFound: string): Record<string, Table> {
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

/** Key-level merge: each key of `tables` replaces the same key in `merged`. */
export function overlay(merged: Sourced, tables: Record<string, Table>, from: string): void {
  for (const [name, table] of Object.entries(tables)) {
    let section = merged.get(name);
    if (!section) {
      section = { from, keys: new Map() };
      merged.set(name, section);
    }
    for (const [key, value] of Object.entries(table)) section.keys.set(key, { value, from });
  }
}

/** A path as a person would type it: relative when under the working directory. */
export function label(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** A value as an error message shows it. */
export function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
