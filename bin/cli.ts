import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { brokerExposureWarning } from '#local/activemq.ts';
import { resolveStack, type StackOverrides } from '#local/stack.ts';
import { down, up } from '#local/stack-lifecycle.ts';
import { status, supervisorStatus } from '#local/stack-status.ts';
import { projectRoot } from '#local/state.ts';
import { addDlqCommands } from './dlq-commands.ts';
import { cliMessage } from './errors.ts';
import { addMonitorCommands } from './monitor-commands.ts';
import { environmentHelp, examples, stackOptions } from './options.ts';
import { addRunCommands } from './run-commands.ts';
import { serviceTable } from './service-table.ts';

/** Whatever a command throws, or leaves unhandled, reaches the user as its message, never as a stack trace. */
const fail = (error: unknown) => {
  console.error(`testbed: ${cliMessage(error)}`);
  process.exit(1);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

const { version } = JSON.parse(readFileSync(`${projectRoot}/package.json`, 'utf8')) as { version: string };

const program = new Command('testbed')
  .description('EIC streaming workflow testbed, prompt processing: the local stack and its runs')
  .version(version, '-V, --version', "print the testbed's version");
examples(program, [
  'testbed run prompt_processing          # starts the local stack if needed, runs a workflow, reports',
  'testbed runs                           # the runs, newest first',
  'testbed status 100010                  # one run (or execution id) in detail',
  'testbed down                           # stops the local stack; its data stay',
]).addHelpText('after', environmentHelp);

const stackFrom = (o: StackOverrides) => resolveStack(o);

examples(
  stackOptions(
    program
      .command('up')
      .description(
        'start broker, dynalite (none with --localstack), the local Lambda runner and the monitor API, under a supervisor (nothing if already up)',
      )
      .addOption(
        new Option(
          '--broker-host <addr>',
          "IPv4 address the broker's STOMP listens on, e.g. 0.0.0.0 for LocalStack's containers (default 127.0.0.1)",
        ).env('TESTBED_BROKER_HOST'),
      )
      .addOption(
        new Option(
          '--localstack [url]',
          'the handlers are the functions of the LocalStack stack (cdklocal deploy -c target=localstack) at this URL (default http://localhost:4566)',
        ).env('TESTBED_LOCALSTACK_URL'),
      ),
  ),
  [
    'testbed up',
    'testbed up --stomp-port 61614 --dynamodb-port 4568 --api-port 8643',
    "testbed up --broker-host 172.17.0.1   # the Docker bridge: LocalStack's functions reach the broker",
    'testbed up --broker-host 172.17.0.1 --localstack   # the runner invokes the functions in LocalStack',
  ],
).action(async (o: StackOverrides) => {
  const s = stackFrom(o);
  const exposure = brokerExposureWarning(s.brokerHost, s.stompPort);
  if (exposure) console.error(exposure);
  if (s.localstack) {
    console.error(
      `handlers: the functions of stack ${s.localstack.stackName} in LocalStack at ${s.localstack.url} (${s.localstack.region})`,
    );
    if (exposure === undefined)
      console.error(
        `warning: LocalStack's functions cannot reach a broker on ${s.brokerHost}: give --broker-host (e.g. 172.17.0.1)`,
      );
  }
  const t0 = performance.now();
  const { started, waitedFor } = await up(s, (line) => console.error(line));
  console.log(
    started
      ? `local stack up in ${((performance.now() - t0) / 1000).toFixed(1)} s (state in ${s.stateDir})`
      : waitedFor !== undefined
        ? `local stack up: started by testbed pid ${waitedFor} meanwhile (state in ${s.stateDir})`
        : `the local stack was already up (state in ${s.stateDir})`,
  );
  console.log(serviceTable(await status(s), supervisorStatus(s)));
});

examples(
  stackOptions(
    program
      .command('down')
      .description('stop the supervisor, pilots, runner, broker and dynalite, those that run'),
  ),
  ['testbed down', 'TESTBED_STATE_DIR=/tmp/mine testbed down'],
).action(async (o: StackOverrides) => {
  const stopped = await down(stackFrom(o));
  console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
});

addRunCommands(program);
addMonitorCommands(program);
addDlqCommands(program);

program.parseAsync().catch(fail);
