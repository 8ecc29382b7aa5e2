import { parse } from 'smol-toml';
import { nearestNames, orList } from './nearest-names.ts';
import { isKnownSection, knownKeys, type Schemas, schemas, type Table } from './workflow-schema.ts';

/** Where command-line overrides come from, as errors and `sources` name it. */
export const COMMAND_LINE = 'command line';

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

/** `[['simulation.stf_count', 200]]` -> `{ simulation: { stf_count: 200 } }`, each name checked. */
export function overridesToTables(overrides: [string, unknown][]): Record<string, Table> {
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
