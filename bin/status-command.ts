import type { Command } from 'commander';
import type { Monitor } from '#query/monitor.ts';
import { type MonitorFlags, monitorOptions, withMonitor } from './monitor-session.ts';
import { examples } from './options.ts';
import { serviceTable, stackHint } from './service-table.ts';
import { table } from './table.ts';
import { printWorkflowStatus } from './workflow-status-text.ts';

/** How many executions `testbed status` lists under the stack's parts. */
const LATEST = 5;

/** The execution of run `runId` (what `testbed status <run>` shows); refused when the run has none. */
async function executionOfRun(m: Monitor, runId: string): Promise<string> {
  const run = await m.run({ run_id: runId });
  if (run.execution_id === undefined)
    throw new Error(
      `run ${runId} has no execution (no DAQ simulator started it): testbed messages --run ${runId} shows what it got`,
    );
  return run.execution_id;
}

/** One run's workflow status (by run number or execution id). */
async function printRunStatus(id: string, o: MonitorFlags): Promise<void> {
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
}

/** The stack's health and the latest executions; exit status 1 when part of it is down. */
async function printStackStatus(o: MonitorFlags): Promise<void> {
  const [
    { resolveStack },
    { status, supervisorStatus, handlersStatus, dynamoAnswers },
    { whyDynamoNotComingBack },
  ] = await Promise.all([
    import('#local/stack.ts'),
    import('#local/stack-status.ts'),
    import('#local/stack-dynamo.ts'),
  ]);
  const stack = resolveStack(o);
  let services = await status(stack);
  let dynamoUp = await dynamoAnswers(stack, services);
  // DynamoDB restarting (the supervisor expects it back): wait for it, then show the stack as it is.
  const expected = !dynamoUp && whyDynamoNotComingBack(stack) === undefined;
  const executions =
    dynamoUp || expected
      ? (await withMonitor(o, (m) => m.executions({ limit: 1000 }))).items.slice(0, LATEST)
      : [];
  if (expected) {
    services = await status(stack);
    dynamoUp = await dynamoAnswers(stack, services);
  }
  const supervisor = supervisorStatus(stack);
  const handlers = await handlersStatus(stack);
  if (o.json) console.log(JSON.stringify({ services, supervisor, handlers, executions }, null, 2));
  else {
    console.log(serviceTable(services, supervisor));
    const health = handlers.healthy === undefined ? '' : handlers.healthy ? ', healthy' : ', UNHEALTHY';
    console.log(`handlers: ${handlers.address}${health}${handlers.message ? `: ${handlers.message}` : ''}`);
    if (dynamoUp) {
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
}

/** Registers `testbed status` on the CLI. */
export function addStatusCommand(program: Command): void {
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
  ).action((id: string | undefined, o: MonitorFlags) =>
    id !== undefined ? printRunStatus(id, o) : printStackStatus(o),
  );
}
