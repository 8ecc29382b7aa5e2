import { appendFileSync } from 'node:fs';

/** One JSON object per line, as CloudWatch and `testbed logs` read them. */
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` (e.g. handler, run_id, execution_id) to every line. */
  child(fields: LogFields): Logger;
}

export function createLogger(
  base: LogFields = {},
  write: (line: string) => void = (l) => console.log(l),
): Logger {
  const emit = (level: string) => (msg: string, fields?: LogFields) =>
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }));
  return {
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger({ ...base, ...fields }, write),
  };
}

/** A process with a terminal of its own (the CLI running the DAQ simulator) logs to TESTBED_LOG_FILE. */
export function loggerFromEnv(base: LogFields, env: NodeJS.ProcessEnv = process.env): Logger {
  const file = env.TESTBED_LOG_FILE;
  return createLogger(base, file ? (line) => appendFileSync(file, `${line}\n`) : undefined);
}
