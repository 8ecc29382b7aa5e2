import { type Command, InvalidArgumentError, Option } from 'commander';
import { resolveStack, type StackOverrides } from '#local/stack.ts';
import { examples, stackOptions } from './options.ts';

const count = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('not a non-negative integer');
  return n;
};

interface RunFlags extends StackOverrides {
  stfCount?: number;
  physicsPeriodCount?: number;
  realtime?: boolean;
  namespace?: string;
  workers?: number;
  set: string[];
  drainTimeout?: number;
  target: 'local' | 'aws';
  stack?: string;
}

export function addRunCommands(program: Command): void {
  examples(
    stackOptions(program.command('run').description('run a workflow on the local stack and report on it')),
    [
      'testbed run prompt_processing                 # the workflow as its file says, in real time',
      'testbed run prompt_processing --no-realtime --stf-count 200 --workers 4',
      'testbed run prompt_processing --set prompt_processing.slices_per_stf=10 --namespace alice',
      'testbed run my_workflow.toml --target aws --stack SwfTestbed',
    ],
  )
    .addHelpText(
      'after',
      'Ctrl-C asks whether to cancel the run or leave it going (without a terminal: cancels).\n',
    )
    .argument('<workflow>', 'a workflow name (workflows/<name>_default.toml) or a TOML file')
    .option('--stf-count <n>', 'STFs per physics period (default simulation.stf_count)', count)
    .option('--physics-period-count <n>', 'physics periods (default simulation.physics_period_count)', count)
    .option('--realtime', 'one simulated second per wall second (default simulation.realtime)')
    .option('--no-realtime', 'as fast as possible')
    .option('--namespace <ns>', 'testbed namespace (default testbed.namespace)')
    .option('--workers <n>', 'pilots per run (default prompt_processing.target_worker_count)', count)
    .option(
      '--set <section.key=value>',
      'any other workflow key (repeatable; an unknown key is refused)',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option('--drain-timeout <s>', 'seconds to wait for the last result after end_run (default 120)', count)
    .addOption(
      new Option('--target <target>', 'the local stack, or the stack deployed to AWS by `npx cdk deploy`')
        .choices(['local', 'aws'])
        .default('local'),
    )
    .option('--stack <name>', 'with --target aws: the deployed stack (default SwfTestbed)')
    .action(async (workflow: string, o: RunFlags) => {
      const [{ loadWorkflow, parseOverride }, { runWorkflow }] = await Promise.all([
        import('#config/workflow.ts'),
        import('#local/run.ts'),
      ]);
      const overrides: Record<string, unknown> = Object.fromEntries(o.set.map(parseOverride));
      const flag = (key: string, v: unknown) => {
        if (v !== undefined) overrides[key] = v;
      };
      flag('simulation.stf_count', o.stfCount);
      flag('simulation.physics_period_count', o.physicsPeriodCount);
      flag('simulation.realtime', o.realtime);
      flag('testbed.namespace', o.namespace);
      flag('prompt_processing.target_worker_count', o.workers);
      if (o.target === 'aws') return runOnAwsTarget(workflow, overrides, o);
      const { report, interruption } = await runWorkflow({
        workflow: loadWorkflow(workflow, { overrides }),
        stack: resolveStack(o),
        drainTimeoutS: o.drainTimeout,
      });
      // 130: ended by Ctrl-C (SIGINT), as shells count it.
      if (interruption !== undefined) process.exitCode = 130;
      else if (!report?.completed) process.exitCode = 1;
    });

  examples(
    stackOptions(
      program
        .command('cancel')
        .description('cancel a run: its pilots stopped, its task cancelled, its dataset closed')
        .argument(
          '<run>',
          'a run number (e.g. 100010) or an execution id (e.g. prompt_processing-alice-0001)',
        ),
    ),
    ['testbed cancel 100010', 'testbed cancel prompt_processing-alice-0001 --reason "wrong settings"'],
  )
    .option('--reason <text>', 'why, as the run records it (default "cancelled by <user>")')
    .action(cancelCommand);
}

interface CancelFlags extends StackOverrides {
  reason?: string;
}

/** `testbed cancel`: a run number or an execution id. */
async function cancelCommand(which: string, o: CancelFlags): Promise<void> {
  const [
    { stackEnvironment },
    { stackDynamoClient },
    { cancelRun },
    { runOfExecution },
    { readRunItem },
    logs,
  ] = await Promise.all([
    import('#local/stack.ts'),
    import('#local/stack-dynamo.ts'),
    import('#local/cancel.ts'),
    import('#query/lookups.ts'),
    import('#query/runs.ts'),
    import('#query/logs.ts'),
  ]);
  const stack = resolveStack(o);
  Object.assign(process.env, stackEnvironment(stack));
  const { tableNames } = await import('#runtime/env.ts');
  const db = stackDynamoClient(stack, { requestTimeoutMs: 10_000, maxAttempts: 1 });
  try {
    const context = { db, tableNames: tableNames(), logs: logs.emptyLogSource };
    const runId = /^\d+$/.test(which) ? which : await runOfExecution(context, which);
    const run = await readRunItem(context, runId);
    const outcome = await cancelRun(stack, db, runId, {
      ...(o.reason !== undefined && { reason: o.reason }),
      ...(typeof run.namespace === 'string' && { namespace: run.namespace }),
    });
    if (outcome.state === 'completed') {
      console.log(`run ${runId} completed at ${outcome.completedAt}: nothing to cancel`);
      process.exitCode = 1;
      return;
    }
    if (outcome.state === 'waiting') {
      console.log(`run ${runId}: the cancel is sent, but no handler has taken it yet (testbed status)`);
      process.exitCode = 1;
      return;
    }
    const pilots =
      outcome.pilotsRunning === 0 ? 'pilots stopped' : `${outcome.pilotsRunning} pilot(s) still stopping`;
    console.log(
      `run ${runId} cancelled at ${outcome.cancelledAt} (${outcome.reason}): task cancelled, dataset closed, ${pilots}`,
    );
  } finally {
    db.destroy();
  }
}

// --- run --target aws: the deployed stack, followed through DynamoDB (local/aws.ts) ----------------------

async function runOnAwsTarget(
  workflow: string,
  overrides: Record<string, unknown>,
  o: RunFlags,
): Promise<void> {
  const [{ loadWorkflow }, { DEFAULT_STACK, runOnAws }, { preflight }] = await Promise.all([
    import('#config/workflow.ts'),
    import('#local/aws.ts'),
    import('#local/preflight.ts'),
  ]);
  const cfg = loadWorkflow(workflow, { overrides });
  for (const line of preflight(cfg)) console.error(line);
  const { completed } = await runOnAws({
    workflow: cfg,
    stackName: o.stack ?? DEFAULT_STACK,
    ...(o.drainTimeout !== undefined && { drainTimeoutS: o.drainTimeout }),
  });
  if (!completed) process.exitCode = 1;
}
