import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { BrokerPort } from '#broker/port.ts';
import type { DeadLetter, DeadLetterFilter } from '#local/dead-letters.ts';
import type { StackOverrides } from '#local/stack.ts';
import { stackOptions } from './options.ts';
import { table } from './table.ts';

// `testbed dlq`: the dead-letter queues of the local stack (local/dead-letters.ts).

interface DlqFlags extends StackOverrides {
  handler?: string;
  run?: string;
  id?: string;
  all?: boolean;
  json?: boolean;
}

const filterOptions = (cmd: Command): Command =>
  stackOptions(cmd)
    .option('--handler <handler>', 'only what this handler parked (stf_gen or stf-gen; transformer: slices)')
    .option('--run <run_id>', 'only messages of this run')
    .option('--id <message_id>', 'only this message (the id `testbed dlq list` shows)')
    .option('--json', 'print JSON');

const filterOf = (o: DlqFlags): DeadLetterFilter => ({
  ...(o.handler !== undefined && { handler: o.handler }),
  ...(o.run !== undefined && { runId: o.run }),
  ...(o.id !== undefined && { id: o.id }),
});

/**
 * Runs `use` with a broker connection. While the broker is away and the stack's supervisor expects it
 * back, it waits (saying so on stderr) and tries again, `use` included when `again` allows (a listing
 * does; a replay under way does not start over); with no stack up it fails at once.
 */
async function withBroker<T>(
  o: StackOverrides,
  use: (b: BrokerPort) => Promise<T>,
  again = true,
): Promise<T> {
  const [{ resolveStack, stackEnvironment }, { connectBroker }, { readCredentials }, { patiently }, sup] =
    await Promise.all([
      import('#local/stack.ts'),
      import('#broker/stomp-broker.ts'),
      import('#runtime/credentials.ts'),
      import('#local/retry.ts'),
      import('#local/supervisor.ts'),
    ]);
  const stack = resolveStack(o);
  const env = stackEnvironment(stack);
  const credentials = env.BROKER_CREDENTIALS_FILE as string;
  if (!existsSync(credentials)) throw new Error(`no local stack in ${stack.stateDir}: testbed up`);
  const patience = {
    what: 'the broker',
    say: (line: string) => console.error(line),
    hopeless: () => sup.whyNotComingBack(stack.stateDir, 'broker'),
  };
  const once = async () => {
    const broker = await patiently(
      () =>
        connectBroker({
          url: env.BROKER_URL as string,
          ...readCredentials(credentials),
          name: 'dlq',
          log: () => {},
        }),
      patience,
    );
    try {
      return await use(broker);
    } finally {
      await broker.close();
    }
  };
  return again ? patiently(once, patience) : once();
}

/** What JSON shows of a message: the body itself may be megabytes. */
function row(l: DeadLetter): Record<string, unknown> {
  const { body, ...rest } = l;
  return { ...rest, body_preview: body.slice(0, 200) };
}

// Parked input is anybody's text: a terminal must not run its escape sequences.
const printable = (s: string): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const NO_REASON = '(none recorded: parked by the broker after its redeliveries)';

/** Registers `testbed dlq list` and `testbed dlq replay`. */
export function addDlqCommands(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('messages parked in the dead-letter queues: refused input and handlers that kept failing');

  filterOptions(dlq.command('list').description('list the parked messages, newest first')).action(
    async (o: DlqFlags) => {
      const { BROWSE_PAGE, listDeadLetters } = await import('#local/dead-letters.ts');
      const letters = await withBroker(o, (b) => listDeadLetters(b, filterOf(o)));
      const perQueue = new Map<string, number>();
      for (const l of letters) perQueue.set(l.queue, (perQueue.get(l.queue) ?? 0) + 1);
      for (const [queue, n] of perQueue)
        if (n >= BROWSE_PAGE)
          console.error(`${queue}: the broker shows ${BROWSE_PAGE} at most; more may wait`);
      if (o.json) {
        // The shape of every list (`{items, next}`); a browse is one page, so there is no `next`.
        console.log(JSON.stringify({ items: letters.map(row) }, null, 2));
        return;
      }
      if (letters.length === 0) {
        console.log('no parked messages');
        return;
      }
      const rows = letters.map((l) => ({
        parked_at: l.parked_at,
        handler: l.handler,
        run_id: l.run_id,
        id: l.id,
      }));
      // The reason last and whole: the table cuts long cells, and the reason is what matters.
      const [head = '', rule = '', ...lines] = table(rows, ['parked_at', 'handler', 'run_id', 'id']).split(
        '\n',
      );
      console.log(`${head.padEnd(rule.length)}  reason\n${rule}  ------`);
      lines.forEach((line, i) => {
        console.log(`${line.padEnd(rule.length)}  ${printable(letters[i]?.reason ?? NO_REASON)}`);
      });
      console.log(`${letters.length} parked message(s); testbed dlq replay puts them back`);
    },
  );

  filterOptions(
    dlq
      .command('replay')
      .description('put parked messages back on the queue they came from (without the dlq_* headers)')
      .option('--all', 'every parked message (without --handler, --run or --id, say so)'),
  ).action(async (o: DlqFlags) => {
    if (!o.all && o.handler === undefined && o.run === undefined && o.id === undefined)
      throw new Error('choose what to replay: --handler, --run, --id, or --all');
    const { replayDeadLetters } = await import('#local/dead-letters.ts');
    const outcome = await withBroker(o, (b) => replayDeadLetters(b, filterOf(o)), false);
    if (o.json) {
      console.log(
        JSON.stringify(
          {
            replayed: outcome.replayed.map(row),
            missed: outcome.missed.map(row),
            more_may_remain: outcome.moreMayRemain,
          },
          null,
          2,
        ),
      );
    } else {
      for (const l of outcome.replayed)
        console.log(`replayed ${l.id} (${l.handler}, run ${l.run_id ?? '?'})`);
      for (const l of outcome.missed)
        console.error(`not replayed: ${l.id} (gone from ${l.queue} meanwhile?)`);
      console.log(`${outcome.replayed.length} message(s) replayed`);
      if (outcome.moreMayRemain) console.error('more may remain: run testbed dlq replay again');
    }
    if (outcome.missed.length > 0) process.exitCode = 1;
  });
}
