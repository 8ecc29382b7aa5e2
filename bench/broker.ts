// Persistent messages/s through the broker port, producer and consumer on two connections of this one
// process: `npx tsx bench/broker.ts [messages]`. Starts its own ActiveMQ.
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { startTestBroker } from '../test/support/broker.ts';

const messages = Number(process.argv[2] ?? 5_000);
const repetitions = 3;
/** No progress for this long counts as a stall. */
const stallMs = 15_000;

interface Run {
  readonly rate: number;
  readonly received: number;
  readonly stalled: boolean;
}

const broker = await startTestBroker();
const connect = (name: string, noDelay: boolean): Promise<BrokerPort> =>
  connectBroker({ url: broker.url, ...broker.credentials, name, noDelay, log: (l) => console.error(l) });

let queues = 0;
const body = (i: number) =>
  JSON.stringify({
    msg_type: 'slice',
    run_id: '100010',
    created_at: new Date().toISOString(),
    namespace: 'bench',
    content: { slice_id: i, stf: 'swf.100010.000001.stf', start: i * 1000, end: i * 1000 + 999 },
  });

/** One producer publishes `n` messages at once; one consumer acks each; the clock stops at the last. */
async function run(n: number, prefetch: number, noDelay = true): Promise<Run> {
  const queue = `/queue/bench.${prefetch}.${++queues}`;
  const [producer, consumer] = await Promise.all([
    connect('producer', noDelay),
    connect('consumer', noDelay),
  ]);
  let received = 0;
  let lastProgress = performance.now();
  let done = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  await consumer.subscribe(queue, { ack: 'client-individual', prefetch }, (m) => {
    m.ack();
    lastProgress = performance.now();
    if (++received === n) done();
  }).ready;
  const t0 = performance.now();
  const published = Promise.all(
    Array.from({ length: n }, (_, i) =>
      producer.publish(queue, body(i), { msg_type: 'slice', run_id: '100010' }),
    ),
  );
  let stalled = false;
  const watchdog = setInterval(() => {
    if (performance.now() - lastProgress > stallMs) {
      stalled = true;
      done();
    }
  }, 500);
  await finished;
  clearInterval(watchdog);
  const seconds = (performance.now() - t0) / 1000;
  if (!stalled) await published;
  await Promise.all([producer.close(), consumer.close()]);
  return { rate: received / seconds, received, stalled };
}

const rows: Record<string, string | number>[] = [];
async function measure(scenario: string, n: number, times: number, prefetch: number, noDelay = true) {
  const runs: Run[] = [];
  for (let i = 0; i < times; i++) runs.push(await run(n, prefetch, noDelay));
  const rates = runs.map((r) => r.rate).sort((a, b) => a - b);
  const stalls = runs.filter((r) => r.stalled);
  rows.push({
    scenario,
    messages: n,
    runs: times,
    'median msg/s': Math.round(rates[Math.floor(rates.length / 2)] ?? 0),
    'min-max msg/s': `${Math.round(rates[0] ?? 0)}-${Math.round(rates.at(-1) ?? 0)}`,
    stalled: stalls.length === 0 ? 'no' : stalls.map((r) => `at ${r.received}`).join(', '),
  });
}

try {
  // Warm-up, not reported: the JIT of both ends makes the first thousands of messages slower.
  await run(2_000, 1);
  await run(2_000, 1000);
  await measure('prefetch 1, client-individual acks', messages, repetitions, 1);
  await measure('prefetch 1000, client-individual acks', messages, repetitions, 1000);
  await measure('prefetch 1, sockets without TCP_NODELAY', 2_000, 1, 1, false);
  await measure('prefetch 1000, one long run', 20_000, 1, 1000);
  await measure('prefetch 1, one long run', 20_000, 1, 1);
  console.table(rows);
} finally {
  await broker.stop();
}
