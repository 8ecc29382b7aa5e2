/**
 * The DynamoDB tables, described once: the local runtime creates them in dynalite from this list and the
 * CDK stack builds them from it, so both hold the same keys.
 */
export interface TableDefinition {
  /** Logical name, also the suffix of the physical name. */
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** One line on what an item is. */
  readonly holds: string;
}

export const tables = {
  runs: {
    name: 'runs',
    partitionKey: 'run_id',
    holds: 'a run: DAQ state, dataset, task, completion bookkeeping',
  },
  stfs: {
    name: 'stfs',
    partitionKey: 'run_id',
    sortKey: 'filename',
    holds: 'an STF registered from stf_gen, with its slicing and the set of slices done',
  },
  slices: {
    name: 'slices',
    partitionKey: 'run_id',
    sortKey: 'slice_key',
    holds: 'the one recorded result of a slice (first result wins)',
  },
  pilots: {
    name: 'pilots',
    partitionKey: 'run_id',
    sortKey: 'pilot_id',
    holds: 'a pilot and its transformer: start, last heartbeat, end',
  },
  counters: {
    name: 'counters',
    partitionKey: 'counter',
    holds: 'atomic counters: run numbers, execution sequence per workflow and user',
  },
  messages: {
    name: 'messages',
    partitionKey: 'run_id',
    sortKey: 'msg_key',
    holds: 'every message a handler took or refused: `<created_at>#<msg_type>#<body hash>`, for the monitor',
  },
  lookups: {
    name: 'lookups',
    partitionKey: 'lookup',
    holds:
      'the run of an execution id (`execution:<id>`) or a task id (`task:<id>`), and the slice a run requested ' +
      'at a time (`slice:<run_id>:<created_at>`): one Get from any',
  },
} as const satisfies Record<string, TableDefinition>;

export type TableName = keyof typeof tables;

/** Physical table names: a prefix per stack (local) or the names CDK chose, passed in the environment. */
export function physicalTableName(name: TableName, env: NodeJS.ProcessEnv = process.env): string {
  return env[`TABLE_${name.toUpperCase()}`] ?? `${env.TABLE_PREFIX ?? 'testbed-'}${name}`;
}
