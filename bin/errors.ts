// The CLI's words for what went wrong: the query layer names its parameters as the HTTP API and the MCP
// tools take them (run_id, msg_type…), and its "not found" says no more than that; here they become the
// options a CLI user types and the command that lists what exists.

/** The query layer's parameter names, as the CLI's options (or argument) spell them. */
const optionOf: Record<string, string> = {
  run_id: '--run',
  execution_id: '--execution',
  task_id: 'the task id argument',
  msg_type: '--type',
  sender: '--sender',
  since: '--since',
  until: '--until',
  order: '--order',
  limit: '--limit',
  next: '--next',
  level: '--level',
  text: '--text',
  stf: '--stf',
  status: '--status',
  namespace: '--namespace',
  state: '--state',
};

/** Where a CLI user finds the known runs, executions and tasks. */
export const LIST_RUNS_HINT = 'testbed runs lists the known runs';
const listHint: Record<string, string> = {
  run: LIST_RUNS_HINT,
  execution: 'testbed runs lists the known runs and their executions',
  task: 'testbed tasks lists the known tasks',
};

/** A query layer refusal (400) in the CLI's terms: option names instead of parameter names. */
export function inOptionTerms(message: string): string {
  return message
    .replace(/give exactly one of run_id, execution_id(, task_id)?/g, 'give --run or --execution')
    .replace(/(^|; )(\w+)(?=:)/g, (whole, sep: string, name: string) =>
      optionOf[name] ? `${sep}${optionOf[name]}` : whole,
    )
    .replace(/(unknown parameters?: )([\w, ]+)/g, (_, head: string, names: string) =>
      head.concat(
        names
          .split(', ')
          .map((n) => optionOf[n] ?? n)
          .join(', '),
      ),
    );
}

/** A query layer "not found" (404) with the command that lists what exists, in place of any hint it had. */
export function withListHint(message: string): string {
  const kind = /^(run|execution|task) \S+ not found$/.exec(message)?.[1];
  return kind ? `${message}: ${listHint[kind]}` : message;
}

/** One line (or the few lines of a message that names a log) for anything a command throws: no stack trace. */
export function cliMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = (error as { name?: string; status?: number }).status;
  if (error.name === 'QueryError' && status === 400) return inOptionTerms(error.message);
  if (error.name === 'QueryError' && status === 404) return withListHint(error.message);
  return error.message;
}
