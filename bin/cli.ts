import { Command } from 'commander';
import { down, resolveStack, type StackOverrides, status, supervisorStatus, up } from '#local/stack.ts';
import { addDlqCommands } from './dlq-commands.ts';
import { addMonitorCommands, serviceTable } from './monitor-commands.ts';
import { stackOptions } from './options.ts';
import { addRunCommands } from './run-commands.ts';

const program = new Command('testbed').description(
  'EIC streaming workflow testbed, prompt processing: the local stack and its runs',
);

const stackFrom = (o: StackOverrides) => resolveStack(o);

stackOptions(
  program
    .command('up')
    .description('start broker, dynalite, the local Lambda runner and the monitor API, under a supervisor'),
).action(async (o: StackOverrides) => {
  const s = stackFrom(o);
  const t0 = performance.now();
  await up(s, (line) => console.error(line));
  console.log(`local stack up in ${((performance.now() - t0) / 1000).toFixed(1)} s (state in ${s.stateDir})`);
  console.log(serviceTable(await status(s), supervisorStatus(s)));
});

stackOptions(
  program.command('down').description('stop the supervisor, pilots, runner, broker and dynalite'),
).action(async (o: StackOverrides) => {
  const stopped = await down(stackFrom(o));
  console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
});

addRunCommands(program);
addMonitorCommands(program);
addDlqCommands(program);

program.parseAsync().catch((error: unknown) => {
  console.error(`testbed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
