import { type Command, InvalidArgumentError, Option } from 'commander';

export const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('not a TCP port');
  return n;
};

/** Where the local stack is: every command that touches it takes these. */
export function stackOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--state-dir <dir>', 'state folder of the local stack (default .testbed)').env(
        'TESTBED_STATE_DIR',
      ),
    )
    .addOption(
      new Option('--stomp-port <port>', 'broker STOMP port (default 61613)')
        .env('TESTBED_STOMP_PORT')
        .argParser(port),
    )
    .addOption(
      new Option('--dynamodb-port <port>', 'dynalite port (default 4567; no dynalite with --localstack)')
        .env('TESTBED_DYNAMODB_PORT')
        .argParser(port),
    )
    .addOption(
      new Option('--api-port <port>', 'monitor API and dashboard port (default 8642)')
        .env('TESTBED_API_PORT')
        .argParser(port),
    );
}

/** Examples printed under a command's help, one command line each (`# …` comments allowed). */
export function examples(cmd: Command, lines: readonly string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** The environment variables the CLI and the stack it starts read, as the root help lists them. */
export const environmentHelp = `
Environment:
  TESTBED_STATE_DIR               state folder of the local stack (default .testbed in the project)
  TESTBED_STOMP_PORT              broker STOMP port (default 61613)
  TESTBED_BROKER_HOST             at testbed up: IPv4 address the broker's STOMP listens on (default 127.0.0.1)
  TESTBED_DYNAMODB_PORT           dynalite port (default 4567; no dynalite with --localstack)
  TESTBED_API_PORT                monitor API and dashboard port (default 8642)
  SWF_TESTBED_CONFIG              a TOML file overriding the workflow's keys (testbed run)
  SWF_USER                        the user a run is started as (default $USER)
  TESTBED_RESTART_BACKOFF_MS      at testbed up: first restart back-off of a part (default 1000)
  TESTBED_RESTART_BACKOFF_MAX_MS  at testbed up: longest back-off (default 30000)
  TESTBED_RESTART_LIMIT           at testbed up: restarts within the window before a part is left down (default 5)
  TESTBED_RESTART_WINDOW_S        at testbed up: that window in seconds (default 120)
  TESTBED_SUPERVISOR_POLL_MS      at testbed up: how often the supervisor checks the parts (default 1000)
  TESTBED_WATCHDOG_INTERVAL_S     at testbed up: seconds between pilot watchdog rounds (default 2)
  TESTBED_CPU_PROF_DIR            at testbed up: write CPU profiles of runner and API there at down
  AWS_PROFILE, AWS_REGION         with --target aws: the account and region of the deployed stack
`;
