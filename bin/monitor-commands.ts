import type { Command } from 'commander';
import type { ServiceStatus, StackOverrides, SupervisorStatus } from '#local/stack.ts';
import type { Monitor } from '#query/monitor.ts';
import { cliTime, isTimeColumn } from './format.ts';
import { examples, stackOptions } from './options.ts';
import { printWorkflowStatus } from './workflow-status-text.ts';

// The monitor's CLI face: each command is one call into the query layer (layers/query/monitor.ts), printed
// as a table or, with --json, as the query returned it (what the HTTP API and the MCP tools return too).

interface MonitorFlags extends StackOverrides {
  json?: boolean;
  execution?: string;
  run?: string;
  limit?: string;
  next?: string;
  namespace?: string;
  status?: string;
}

/** Where the local stack is (as `testbed up` takes it), and JSON output. */
const monitorOptions = (cmd: Command): Command =>
  stackOptions(cmd).option('--json', 'print JSON, as the HTTP API returns it');

/** Options of the list commands: whose records (by default, `whose`), how many, from where. */
function listOptions(cmd: Command, whose = 'the latest run'): Command {
  return monitorOptions(cmd)
    .option('--execution <id>', 'the execution (e.g. prompt_processing-alice-0001)')
    .option('--run <run>', `the run number (default ${whose})`)
    .option('--limit <n>', 'at most this many (1 to 1000, default 100)')
    .option('--next <token>', 'the page after the one that printed this token');
}

/** Options of a list of runs: how many, from where, which. */
const pageOptions = (cmd: Command): Command =>
  monitorOptions(cmd)
    .option('--limit <n>', 'at most this many (1 to 1000, default 100)')
    .option('--next <token>', 'the page after the one that printed this token');

/**
 * Runs `use` against the local stack's tables. While DynamoDB is away and the stack's supervisor expects
 * it back, it waits (saying so on stderr) and tries again; with no stack up it fails at once.
 */
async function withMonitor<T>(o: StackOverrides, use: (m: Monitor) => Promise<T>): Promise<T> {
  const [{ resolveStack, stackEnvironment }, { monitorContext }, { Monitor }, { patiently }, dynalite, sup] =
    await Promise.all([
      import('#local/stack.ts'),
      import('#query/context.ts'),
      import('#query/monitor.ts'),
      import('#local/retry.ts'),
      import('#local/dynalite.ts'),
      import('#local/supervisor.ts'),
    ]);
  const stack = resolveStack(o);
  const base = monitorContext({ ...process.env, ...stackEnvironment(stack) });
  base.db.destroy();
  // Bounded requests: a stopped dynalite takes the connection and never answers.
  const db = dynalite.localDynamoClient(stack.dynamodbPort, { requestTimeoutMs: 10_000, maxAttempts: 1 });
  try {
    return await patiently(() => use(new Monitor({ ...base, db })), {
      what: 'DynamoDB',
      say: (line) => console.error(line),
      hopeless: () => sup.whyNotComingBack(stack.stateDir, 'dynalite'),
    });
  } finally {
    db.destroy();
  }
}

/** The filters a list command passes on: only those given, named as the query layer names them. */
function owner(o: MonitorFlags): Record<string, string> {
  const p: Record<string, string> = {};
  if (o.execution !== undefined) p.execution_id = o.execution;
  if (o.run !== undefined) p.run_id = o.run;
  if (o.limit !== undefined) p.limit = o.limit;
  if (o.next !== undefined) p.next = o.next;
  return p;
}

/**
 * A run list's owner: the run or execution given, else the latest run, said in one line on stderr (stdout
 * stays the list, or JSON); undefined when there is no run yet.
 */
async function ownerOrLatest(m: Monitor, o: MonitorFlags): Promise<Record<string, string> | undefined> {
  if (o.run !== undefined || o.execution !== undefined) return owner(o);
  const latest = await m.latestRun();
  if (latest === undefined) return undefined;
  console.error(`run ${latest.run_id} (latest; give --run to choose)`);
  return { ...owner(o), run_id: latest.run_id };
}

const NO_RUN_YET = 'no runs yet: testbed run prompt_processing';

/** The execution of run `runId` (what `testbed status <run>` shows); refused when the run has none. */
async function executionOfRun(m: Monitor, runId: string): Promise<string> {
  const run = await m.run({ run_id: runId });
  if (run.execution_id === undefined)
    throw new Error(
      `run ${runId} has no execution (no DAQ simulator started it): testbed messages --run ${runId} shows what it got`,
    );
  return run.execution_id;
}

/** The run or execution a list was asked of, in words. */
const whose = (owner: Record<string, string>): string =>
  owner.run_id !== undefined ? `run ${owner.run_id}` : `execution ${owner.execution_id}`;

/** An empty list of messages, in the words of what was asked: "no bogus_type messages in run 100010". */
function noMessages(
  owner: Record<string, string>,
  filters: Record<string, string>,
  types?: string[],
): string {
  const what = [
    filters.msg_type,
    'messages',
    filters.sender && `from ${filters.sender}`,
    `in ${whose(owner)}`,
    filters.since && `since ${cliTime(filters.since)}`,
    filters.until && `until ${cliTime(filters.until)}`,
  ];
  const has =
    types === undefined ? '' : types.length > 0 ? ` (it has ${types.join(', ')})` : ' (it has none)';
  return `no ${what.filter(Boolean).join(' ')}${has}`;
}

function given(o: Record<string, unknown>, names: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(names)
      .filter(([flag]) => o[flag] !== undefined)
      .map(([flag, param]) => [param, String(o[flag])]),
  );
}

/** Prints a page: JSON as is, or a table of `columns` and the token of the next page. */
function printPage(
  page: { items: object[]; next?: string },
  o: MonitorFlags,
  columns: string[],
  empty: string,
): void {
  if (o.json) {
    console.log(JSON.stringify(page, null, 2));
    return;
  }
  if (page.items.length === 0) console.log(empty);
  else console.log(table(page.items as Record<string, unknown>[], columns));
  if (page.next) console.error(`more: --next ${page.next}`);
}

const cell = (v: unknown, column: string): string =>
  v === undefined || v === null
    ? ''
    : isTimeColumn(column)
      ? cliTime(v)
      : typeof v === 'object'
        ? JSON.stringify(v)
        : String(v);

/** A plain text table, widest cell per column, times in the CLI's one style. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(r[c], c)));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** The stack's parts: health, what the supervisor does with them, restarts; then what a person should know. */
export function serviceTable(services: ServiceStatus[], supervisor?: SupervisorStatus): string {
  const rows = services.map((r) => ({
    service: r.service,
    state:
      r.phase !== undefined && r.phase !== 'running'
        ? r.phase
        : r.pid === undefined
          ? 'stopped'
          : r.healthy
            ? 'healthy'
            : 'unhealthy',
    pid: r.pid,
    restarts: r.restarts,
    last_restart: r.last_restart
      ? `${cliTime(r.last_restart.at)} ${r.last_restart.reason}`
      : r.restarts === undefined
        ? undefined
        : '-',
    address: r.address,
  }));
  const notes = services.filter((r) => r.message).map((r) => `${r.service}: ${r.message}`);
  if (supervisor)
    notes.unshift(
      `supervisor: ${supervisor.running ? `pid ${supervisor.pid}, restarts what dies` : supervisor.message} (log ${supervisor.log})`,
    );
  return [table(rows, ['service', 'state', 'pid', 'restarts', 'last_restart', 'address']), ...notes].join(
    '\n',
  );
}

const LATEST = 5;

/** The file a log line is about: its `filename` field, or upstream's `stf`. */
const logColumns = (l: Record<string, unknown>) => ({ ...l, file: l.filename ?? l.stf });

/** Says why the stack does not serve, and what starts it; undefined when all is well. */
function stackHint(services: ServiceStatus[], supervisor: SupervisorStatus): string | undefined {
  if (services.every((r) => r.pid === undefined) && !supervisor.running)
    return 'the local stack is not up: testbed up starts it (testbed run prompt_processing does too)';
  if (!services.every((r) => r.healthy) || !supervisor.running)
    return 'part of the local stack is down: testbed up starts it again';
  return undefined;
}

/** Registers status, messages, stf-files, slices, logs, tasks and mcp on the testbed CLI. */
export function addMonitorCommands(program: Command): void {
  examples(
    monitorOptions(
      program
        .command('status')
        .description(
          "the local stack's health and the latest executions, or one run's workflow status (by run number or execution id)",
        )
        .argument('[run|execution]', 'a run number (digits) or an execution id: its workflow status'),
    ),
    ['testbed status', 'testbed status 100010', 'testbed status prompt_processing-alice-0001 --json'],
  ).action(async (id: string | undefined, o: MonitorFlags) => {
    if (id !== undefined) {
      // JSON is the workflow status alone, as the API and the MCP tool return it.
      const [s, run] = await withMonitor(o, async (m) => {
        const execution = /^\d+$/.test(id) ? await executionOfRun(m, id) : id;
        return Promise.all([
          m.execution({ execution_id: execution }),
          o.json ? undefined : m.run({ execution_id: execution }),
        ]);
      });
      if (run === undefined) console.log(JSON.stringify(s, null, 2));
      else await printWorkflowStatus(s, run);
      return;
    }
    const [{ resolveStack, status, supervisorStatus }, { whyNotComingBack }] = await Promise.all([
      import('#local/stack.ts'),
      import('#local/supervisor.ts'),
    ]);
    const stack = resolveStack(o);
    let services = await status(stack);
    const dynamoUp = () => services.find((r) => r.service === 'dynalite')?.healthy === true;
    // DynamoDB restarting (the supervisor expects it back): wait for it, then show the stack as it is.
    const expected = !dynamoUp() && whyNotComingBack(stack.stateDir, 'dynalite') === undefined;
    const executions =
      dynamoUp() || expected
        ? (await withMonitor(o, (m) => m.executions({ limit: 1000 }))).items.slice(0, LATEST)
        : [];
    if (expected) services = await status(stack);
    const supervisor = supervisorStatus(stack);
    if (o.json) console.log(JSON.stringify({ services, supervisor, executions }, null, 2));
    else {
      console.log(serviceTable(services, supervisor));
      if (dynamoUp()) {
        console.log('\nLatest executions');
        console.log(
          executions.length === 0
            ? '(none yet: testbed run prompt_processing)'
            : table(executions as unknown as Record<string, unknown>[], [
                'execution_id',
                'run_id',
                'status',
                'phase',
                'stf_files',
                'start_time',
                'duration_seconds',
              ]),
        );
      }
    }
    const hint = stackHint(services, supervisor);
    if (hint !== undefined) {
      console.error(hint);
      process.exitCode = 1;
    }
  });

  examples(
    pageOptions(program.command('runs').description('the runs, newest first, with their executions'))
      .option('--namespace <ns>', 'only the runs of this namespace')
      .option(
        '--status <status>',
        'only runs in this state: pending, running, completed, cancelled or terminated',
      ),
    ['testbed runs', 'testbed runs --namespace alice --status completed --limit 10', 'testbed runs --json'],
  ).action(async (o: MonitorFlags) => {
    const p = given(o as Record<string, unknown>, {
      limit: 'limit',
      next: 'next',
      namespace: 'namespace',
      status: 'status',
    });
    const page = await withMonitor(o, (m) => m.runs(p));
    const filtered = p.namespace !== undefined || p.status !== undefined;
    printPage(
      page,
      o,
      [
        'run_id',
        'execution_id',
        'namespace',
        'status',
        'phase',
        'stf_files',
        'created_at',
        'duration_seconds',
      ],
      filtered
        ? `no ${[p.status, 'runs', p.namespace && `in namespace ${p.namespace}`].filter(Boolean).join(' ')}`
        : NO_RUN_YET,
    );
  });

  examples(listOptions(program.command('messages').description('messages the handlers took, newest first')), [
    'testbed messages                          # the latest run',
    'testbed messages --run 100010 --type slice_result --limit 20',
    'testbed messages --execution prompt_processing-alice-0001 --order asc --json',
  ])
    .option('--type <type>', 'only this message type (e.g. slice_result)')
    .option('--sender <sender>', 'only from this sender')
    .option('--since <time>', 'created at or after (any timestamp style)')
    .option('--until <time>', 'created at or before')
    .option('--order <asc|desc>', 'time order (default desc)')
    .action(async (o: MonitorFlags & Record<string, unknown>) => {
      const filters = given(o, {
        type: 'msg_type',
        sender: 'sender',
        since: 'since',
        until: 'until',
        order: 'order',
      });
      const found = await withMonitor(o, async (m) => {
        const run = await ownerOrLatest(m, o);
        if (run === undefined) return undefined;
        const page = await m.messages({ ...run, ...filters });
        const filtered = Object.keys(filters).some((f) => f !== 'order');
        // An empty filtered page says what was asked, and what the run does have.
        const all =
          page.items.length === 0 && filtered ? await m.messages({ ...run, limit: 1000 }) : undefined;
        return { page, run, types: all && [...new Set(all.items.map((r) => r.msg_type))].sort() };
      });
      printPage(
        found?.page ?? { items: [] },
        o,
        ['created_at', 'msg_type', 'sender', 'file', 'slice_id', 'state', 'delay_ms', 'refused'],
        found ? noMessages(found.run, filters, found.types) : NO_RUN_YET,
      );
    });

  examples(listOptions(program.command('stf-files').description("a run's STF files")), [
    'testbed stf-files',
    'testbed stf-files --run 100010 --status done',
  ])
    .option('--status <status>', 'registered, processing or done')
    .action(async (o: MonitorFlags & Record<string, unknown>) => {
      const found = await withMonitor(o, async (m) => {
        const run = await ownerOrLatest(m, o);
        return run && { run, page: await m.stfFiles({ ...run, ...given(o, { status: 'status' }) }) };
      });
      printPage(
        found?.page ?? { items: [] },
        o,
        ['filename', 'sequence', 'status', 'state', 'size', 'checksum', 'slice_count', 'slices_done'],
        found ? `no ${[o.status, 'STF files'].filter(Boolean).join(' ')} in ${whose(found.run)}` : NO_RUN_YET,
      );
    });

  examples(listOptions(program.command('slices').description("a run's slice results")), [
    'testbed slices --run 100010 --status failed',
    'testbed slices --stf swf.100010.000001.stf --json',
  ])
    .option('--stf <filename>', 'only the slices of this STF file')
    .option('--status <status>', 'done or failed')
    .action(async (o: MonitorFlags & Record<string, unknown>) => {
      const found = await withMonitor(o, async (m) => {
        const run = await ownerOrLatest(m, o);
        return (
          run && { run, page: await m.slices({ ...run, ...given(o, { stf: 'stf', status: 'status' }) }) }
        );
      });
      const what = [o.status, 'slice results', o.stf && `of ${o.stf}`].filter(Boolean).join(' ');
      printPage(
        found?.page ?? { items: [] },
        o,
        ['filename', 'slice_id', 'status', 'hostname', 'pilot_id', 'requested_at', 'processed_at', 'error'],
        found ? `no ${what} in ${whose(found.run)}` : NO_RUN_YET,
      );
    });

  examples(
    listOptions(
      program.command('logs').description('log lines of the handlers and pilots, newest first'),
      'all runs',
    ),
    ['testbed logs --level warn', 'testbed logs --run 100010 --text "slice failed"'],
  )
    .option('--level <level>', 'at least this level: info, warn, error')
    .option('--text <text>', 'lines whose message holds this text')
    .option('--since <time>', 'at or after')
    .option('--until <time>', 'at or before')
    .action(async (o: MonitorFlags & Record<string, unknown>) => {
      const p = {
        ...owner(o),
        ...given(o, { level: 'level', text: 'text', since: 'since', until: 'until' }),
      };
      const page = await withMonitor(o, (m) => m.logs(p));
      printPage(
        { ...page, items: page.items.map(logColumns) },
        o,
        ['time', 'level', 'source', 'run_id', 'file', 'msg'],
        'no log lines',
      );
    });

  examples(
    listOptions(
      program
        .command('tasks')
        .description("the runs' workflow tasks, or one task's jobs (its pilots)")
        .argument('[task_id]', 'a task id: its jobs'),
      "all runs' tasks",
    ),
    ['testbed tasks', 'testbed tasks 1000042', 'testbed tasks --run 100010'],
  ).action(async (taskId: string | undefined, o: MonitorFlags) => {
    if (taskId === undefined && o.execution === undefined && o.run === undefined) {
      const p = given(o as Record<string, unknown>, { limit: 'limit', next: 'next' });
      const page = await withMonitor(o, (m) => m.tasks(p));
      printPage(
        page,
        o,
        ['task_id', 'run_id', 'execution_id', 'task_state', 'dataset', 'dataset_state', 'status'],
        'no tasks',
      );
      return;
    }
    const p = { ...owner(o), ...(taskId !== undefined && { task_id: taskId }) };
    const page = await withMonitor(o, (m) => m.pilots(p));
    const { NO_ADJUSTER_PILOTS } = await import('#query/pilots.ts');
    printPage(
      page,
      o,
      ['pilot_id', 'state', 'hostname', 'pid', 'started_at', 'last_heartbeat_at', 'ended_at', 'slices_done'],
      // A foreign transformer (upstream's) records no job: its hosts show in `testbed status RUN`.
      `no jobs: ${NO_ADJUSTER_PILOTS} (testbed status RUN shows the result hosts)`,
    );
  });

  examples(
    stackOptions(
      program
        .command('mcp')
        .description(
          'the MCP server on stdio: the monitor tools (swf_get_workflow_monitor, swf_list_*, panda_list_jobs)',
        ),
    ),
    ['testbed mcp    # as the command of an MCP client (stdio)'],
  ).action(async (o: StackOverrides) => {
    const { serveMcp } = await import('#local/mcp.ts');
    await serveMcp(o);
  });
}
