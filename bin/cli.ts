import { Command, InvalidArgumentError, Option } from 'commander';
import { down, resolveStack, type StackOverrides, status, up } from '#local/stack.ts';

const program = new Command('testbed').description(
  'EIC streaming workflow testbed, prompt processing: the local stack and its runs',
);

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('not a TCP port');
  return n;
};

/** Options every command that touches the local stack takes. */
function stackOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--state-dir <dir>', 'state folder of the local stack').env('TESTBED_STATE_DIR'))
    .addOption(new Option('--stomp-port <port>', 'broker STOMP port (default 61613)').argParser(port))
    .addOption(new Option('--dynamodb-port <port>', 'dynalite port (default 4567)').argParser(port));
}

const stackFrom = (o: StackOverrides) => resolveStack(o);

stackOptions(program.command('up').description('start broker, dynalite and the local Lambda runner')).action(
  async (o: StackOverrides) => {
    const s = stackFrom(o);
    const t0 = performance.now();
    await up(s, (line) => console.error(line));
    console.log(`local stack up in ${((performance.now() - t0) / 1000).toFixed(1)} s (state in ${s.stateDir})`);
    printStatus(await status(s));
  },
);

stackOptions(program.command('down').description('stop pilots, runner, broker and dynalite')).action(
  async (o: StackOverrides) => {
    const stopped = await down(stackFrom(o));
    console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
  },
);

stackOptions(program.command('status').description('what runs, where, and whether it is healthy'))
  .option('--json', 'print JSON')
  .action(async (o: StackOverrides & { json?: boolean }) => {
    const rows = await status(stackFrom(o));
    if (o.json) console.log(JSON.stringify(rows, null, 2));
    else printStatus(rows);
    if (!rows.every((r) => r.healthy)) process.exitCode = 1;
  });

function printStatus(rows: Awaited<ReturnType<typeof status>>) {
  console.table(
    rows.map((r) => ({
      service: r.service,
      state: r.pid === undefined ? 'stopped' : r.healthy ? 'healthy' : 'unhealthy',
      pid: r.pid ?? '',
      address: r.address ?? '',
    })),
  );
}

program.parseAsync().catch((error: unknown) => {
  console.error(`testbed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
