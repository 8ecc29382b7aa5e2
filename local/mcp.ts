import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { monitorContext } from '#query/context.ts';
import { Monitor } from '#query/monitor.ts';
import { resolveStack, type StackOverrides, stackEnvironment } from './stack.ts';

// The monitor's MCP face, with upstream's tool names and argument names (run_number, message_type, agent,
// start_time, ...). Each tool is a thin call into the query layer; whatever it refuses (unknown ids,
// malformed filters, limit over 1000) comes back as a tool error with the query layer's message.

const id = z.union([z.string(), z.number()]);
const paging = {
  limit: id.optional().describe('at most this many items (1 to 1000, default 100)'),
  next: z.string().optional().describe('the `next` token of the previous page'),
};
const runOrExecution = {
  execution_id: z.string().optional().describe('an execution id, e.g. prompt_processing-alice-0001'),
  run_number: id.optional().describe('a run number, e.g. 100010'),
};

/** A time window in upstream's argument names (any timestamp style). */
const timeWindow = {
  start_time: z.string().optional(),
  end_time: z.string().optional(),
};

/** The arguments of a list of one run's records: the execution or run, `filters`, and a page. */
const runList = <F extends z.ZodRawShape>(filters: F) => ({ ...runOrExecution, ...filters, ...paging });
const messageFilters = runList({
  message_type: z.string().optional(),
  agent: z.string().optional().describe('the sender'),
  ...timeWindow,
  order: z.string().optional().describe('asc or desc (default)'),
});
const logFilters = runList({
  level: z.string().optional(),
  search: z.string().optional().describe('text the message holds'),
  ...timeWindow,
});

const runStatus = z.string().optional().describe('pending, running, completed, cancelled or terminated');

/** Upstream names to the query layer's, leaving out what was not given. */
function params(args: Record<string, unknown>, names: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [arg, value] of Object.entries(args)) {
    if (value === undefined) continue;
    out[names[arg] ?? arg] = value;
  }
  return out;
}

const upstream = {
  run_number: 'run_id',
  message_type: 'msg_type',
  agent: 'sender',
  start_time: 'since',
  end_time: 'until',
};

const result = (value: unknown) => ({
  content: [{ type: 'text' as const, text: JSON.stringify(value, null, 2) }],
});

/** An MCP server with the monitor tools over `monitor`. */
export function monitorMcpServer(monitor: Monitor): McpServer {
  const server = new McpServer({ name: 'swf-testbed-monitor', version: '0.1.0' });
  const tool = <S extends z.ZodRawShape>(
    name: string,
    description: string,
    inputSchema: S,
    call: (p: Record<string, unknown>) => Promise<unknown>,
  ) =>
    server.registerTool(
      name,
      { description, inputSchema, annotations: { readOnlyHint: true } },
      // biome-ignore lint/suspicious/noExplicitAny: the SDK's callback type is generic over the shape
      (async (args: Record<string, unknown>) => result(await call(params(args, upstream)))) as any,
    );

  tool(
    'swf_get_workflow_monitor',
    "Status and events of a workflow execution: status (pending/running/completed/cancelled/terminated), phase (imminent/running/paused/ended/completed), run id, events, errors, and the run's figures as swf_get_run gives them: duration, messages (and messages_by_type), STFs and slices expected and done, pilots, settled, incomplete_reasons.",
    { execution_id: z.string().describe('the execution id') },
    (p) => monitor.execution(p),
  );
  tool(
    'swf_list_workflow_executions',
    'Workflow executions, newest first: execution id, run, status, phase, STF files, times.',
    { namespace: z.string().optional(), status: runStatus, ...paging },
    (p) => monitor.executions(p),
  );
  tool(
    'swf_list_runs',
    'Runs, newest first: run number, execution, status, phase, task, dataset, STF files, times, duration.',
    { namespace: z.string().optional(), status: runStatus, ...paging },
    (p) => monitor.runs(p),
  );
  tool(
    'swf_get_run',
    "One run: its figures as every face shows them — duration (start to end, from the records), messages by type (the message log), STFs registered and expected (end_run's count, else the DAQ's plan), slices expected, done and failed, pilots with their state and their slices from the slices table, settled (nothing will change any more), incomplete_reasons (why it did not complete) — plus DAQ state, delay percentiles, and result_hosts: every host that reported results (slices done and failed, pilot id when known), including transformers the worker adjuster did not start, which have no pilot.",
    runOrExecution,
    (p) => monitor.run(p),
  );
  tool(
    'swf_list_messages',
    'Messages the handlers took (and refused, with the reason) for an execution or run, newest first; filter by type, sender (agent), time.',
    messageFilters,
    (p) => monitor.messages(p),
  );
  tool(
    'swf_list_stf_files',
    "A run's STF files: name, sequence, status (registered, processing, done), size, checksum, slices.",
    runList({ status: z.string().optional() }),
    (p) => monitor.stfFiles(p),
  );
  tool(
    'swf_list_tf_slices',
    "A run's slice results: STF file, slice id, status (done, failed), pilot, timestamps.",
    runList({ stf_filename: z.string().optional(), status: z.string().optional() }),
    (p) => monitor.slices(params(p, { stf_filename: 'stf' })),
  );
  tool(
    'swf_list_logs',
    'Log lines of the handlers and pilots, newest first; by execution or run, minimum level (info, warn, error), text.',
    logFilters,
    (p) => monitor.logs(params(p, { search: 'text' })),
  );
  tool(
    'swf_list_agents',
    'The agents of an execution or run: its pilots (transformers, OK/ERROR when lost/EXITED) and every sender of its messages.',
    runOrExecution,
    (p) => monitor.agents(p),
  );
  tool(
    'panda_list_jobs',
    "The jobs (pilots) the worker adjuster started for a task, or a run: state (lost when silent for three heartbeats), host, times, slices done and failed (its results in the slices table). A foreign transformer (upstream's) has none: swf_get_run's result_hosts lists it.",
    {
      taskid: id.optional().describe('the task id'),
      ...runOrExecution,
      status: z.string().optional(),
      ...paging,
    },
    (p) => monitor.pilots(params(p, { taskid: 'task_id', status: 'state' })),
  );
  return server;
}

/** `testbed mcp`: the tools over the local stack's records, on stdin/stdout, until stdin closes. */
export async function serveMcp(o: StackOverrides = {}): Promise<void> {
  const context = monitorContext({ ...process.env, ...stackEnvironment(resolveStack(o)) });
  const server = monitorMcpServer(new Monitor(context));
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close().catch(() => {});
  context.db.destroy();
}
