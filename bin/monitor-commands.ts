import type { Command } from 'commander';
import type { StackOverrides } from '#local/stack.ts';
import { cliTime } from './format.ts';
import {
  given,
  listOptions,
  type MonitorFlags,
  NO_RUN_YET,
  owner,
  ownerOrLatest,
  pageOptions,
  whose,
  withMonitor,
} from './monitor-session.ts';
import { examples, stackOptions } from './options.ts';
import { addStatusCommand } from './status-command.ts';
import { printPage } from './table.ts';

// The monitor's CLI face: each command is one call into the query layer (layers/query/monitor.ts), printed
// as a table or, with --json, as the query returned it (what the HTTP API and the MCP tools return too).

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

/** The file a log line is about: its `filename` field, or upstream's `stf`. */
const logColumns = (l: Record<string, unknown>) => ({ ...l, file: l.filename ?? l.stf });

/** Registers status, runs, messages, stf-files, slices, logs, tasks and mcp on the testbed CLI. */
export function addMonitorCommands(program: Command): void {
  addStatusCommand(program);

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
