import type { Command } from 'commander';
import type { ServiceStatus, StackOverrides, SupervisorStatus } from '#local/stack.ts';
import type { Monitor } from '#query/monitor.ts';
import { hhmmss } from './format.ts';
import { stackOptions } from './options.ts';
import { printWorkflowStatus } from './workflow-status-text.ts';

// The monitor's CLI face: each command is one call into the query layer (layers/query/monitor.ts), printed
// as a table or, with --json, as the query returned it (what the HTTP API and the MCP tools return too).

interface MonitorFlags extends StackOverrides {
  json?: boolean;
  execution?: string;
  run?: string;
  limit?: string;
  next?: string;
}

/** Where the local stack is (as `testbed up` takes it), and JSON output. */
const monitorOptions = (cmd: Command): Command =>
  stackOptions(cmd).option('--json', 'print JSON, as the HTTP API returns it');

/** Options of the list commands: whose records, how many, from where. */
function listOptions(cmd: Command): Command {
  return monitorOptions(cmd)
    .option('--execution <id>', 'the execution (e.g. prompt_processing-alice-0001)')
    .option('--run <run_id>', 'the run number')
    .option('--limit <n>', 'at most this many (1 to 1000, default 100)')
    .option('--next <token>', 'the page after the one that printed this token');
}

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

const cell = (v: unknown): string =>
  v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);

/** A plain text table, widest cell per column, long cells cut. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(r[c]).slice(0, 60)));
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
      ? `${hhmmss(r.last_restart.at)} ${r.last_restart.reason}`
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

/** Registers status, messages, stf-files, slices, logs, tasks and mcp on the testbed CLI. */
export function addMonitorCommands(program: Command): void {
  monitorOptions(
    program
      .command('status')
      .description("the local stack's health and the latest executions, or one execution's workflow status")
      .argument('[execution]', 'an execution id: its workflow status'),
  ).action(async (execution: string | undefined, o: MonitorFlags) => {
    if (execution !== undefined) {
      // JSON is the workflow status alone, as the API and the MCP tool return it.
      const [s, run] = await withMonitor(o, (m) =>
        Promise.all([
          m.execution({ execution_id: execution }),
          o.json ? undefined : m.run({ execution_id: execution }),
        ]),
      );
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
    if (!services.every((r) => r.healthy) || !supervisor.running) process.exitCode = 1;
  });

  listOptions(program.command('messages').description('messages the handlers took, newest first'))
    .option('--type <msg_type>', 'only this message type')
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
      const page = await withMonitor(o, async (m) => {
        const run = await ownerOrLatest(m, o);
        return run && m.messages({ ...run, ...filters });
      });
      printPage(
        page ?? { items: [] },
        o,
        ['created_at', 'msg_type', 'sender', 'refused', 'content'],
        page ? 'no messages' : NO_RUN_YET,
      );
    });

  listOptions(program.command('stf-files').description("a run's STF files"))
    .option('--status <status>', 'registered, processing or done')
    .action(async (o: MonitorFlags & Record<string, unknown>) => {
      const page = await withMonitor(o, async (m) => {
        const run = await ownerOrLatest(m, o);
        return run && m.stfFiles({ ...run, ...given(o, { status: 'status' }) });
      });
      printPage(
        page ?? { items: [] },
        o,
        ['filename', 'sequence', 'status', 'state', 'size', 'checksum', 'slice_count', 'slices_done'],
        page ? 'no STF files' : NO_RUN_YET,
      );
    });

  listOptions(program.command('slices').description("a run's slice results"))
    .option('--stf <filename>', 'only the slices of this STF file')
    .option('--status <status>', 'done or failed')
    .action(async (o: MonitorFlags & Record<string, unknown>) => {
      const page = await withMonitor(o, async (m) => {
        const run = await ownerOrLatest(m, o);
        return run && m.slices({ ...run, ...given(o, { stf: 'stf', status: 'status' }) });
      });
      printPage(
        page ?? { items: [] },
        o,
        ['filename', 'slice_id', 'status', 'hostname', 'pilot_id', 'requested_at', 'processed_at', 'error'],
        page ? 'no slice results' : NO_RUN_YET,
      );
    });

  listOptions(program.command('logs').description('log lines of the handlers and pilots, newest first'))
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
      printPage(page, o, ['time', 'level', 'source', 'run_id', 'msg'], 'no log lines');
    });

  listOptions(
    program
      .command('tasks')
      .description("the runs' workflow tasks, or one task's jobs (its pilots)")
      .argument('[task_id]', 'a task id: its jobs'),
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
      // A foreign transformer (upstream's) records no job: its hosts show in `testbed status EXECUTION`.
      `no jobs: ${NO_ADJUSTER_PILOTS} (testbed status EXECUTION shows the result hosts)`,
    );
  });

  stackOptions(
    program
      .command('mcp')
      .description(
        'the MCP server on stdio: the monitor tools (swf_get_workflow_monitor, swf_list_*, panda_list_jobs)',
      ),
  ).action(async (o: StackOverrides) => {
    const { serveMcp } = await import('#local/mcp.ts');
    await serveMcp(o);
  });
}
