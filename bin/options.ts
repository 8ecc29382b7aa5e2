import { type Command, InvalidArgumentError, Option } from 'commander';

export const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('not a TCP port');
  return n;
};

/** Where the local stack is: every command that touches it takes these. */
export function stackOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--state-dir <dir>', 'state folder of the local stack').env('TESTBED_STATE_DIR'))
    .addOption(new Option('--stomp-port <port>', 'broker STOMP port (default 61613)').argParser(port))
    .addOption(new Option('--dynamodb-port <port>', 'dynalite port (default 4567)').argParser(port))
    .addOption(new Option('--api-port <port>', 'monitor API port (default 8642)').argParser(port));
}
