// Persistent messages/s through the broker port, producer and consumer on two connections of this one
// process: `npx tsx bench/broker.ts [messages]`. Starts its own ActiveMQ. (`npm run bench` measures the
// same two rows beside the prompt path.)
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { startTestBroker } from '../test/support/broker.ts';
import { type RawRun, rawBrokerRun } from './lib/raw-broker.ts';
import { median } from './lib/stats.ts';

const messages = Number(process.argv[2] ?? 5_000);
const repetitions = 3;

const broker = await startTestBroker();
const connect =
  (noDelay: boolean) =>
  (name: string): Promise<BrokerPort> =>
    connectBroker({ url: broker.url, ...broker.credentials, name, noDelay, log: (l) => console.error(l) });

const rows: Record<string, string | number>[] = [];
async function measure(scenario: string, n: number, times: number, prefetch: number, noDelay = true) {
  const runs: RawRun[] = [];
  for (let i = 0; i < times; i++) runs.push(await rawBrokerRun(connect(noDelay), n, prefetch));
  const rates = runs.map((r) => r.rate).sort((a, b) => a - b);
  const stalls = runs.filter((r) => r.stalled);
  rows.push({
    scenario,
    messages: n,
    runs: times,
    'median msg/s': Math.round(median(rates)),
    'min-max msg/s': `${Math.round(rates[0] ?? 0)}-${Math.round(rates.at(-1) ?? 0)}`,
    stalled: stalls.length === 0 ? 'no' : stalls.map((r) => `at ${r.received}`).join(', '),
  });
}

try {
  // Warm-up, not reported: the JIT of both ends makes the first thousands of messages slower.
  await rawBrokerRun(connect(true), 2_000, 1);
  await rawBrokerRun(connect(true), 2_000, 1000);
  await measure('prefetch 1, client-individual acks', messages, repetitions, 1);
  await measure('prefetch 1000, client-individual acks', messages, repetitions, 1000);
  await measure('prefetch 1, sockets without TCP_NODELAY', 2_000, 1, 1, false);
  await measure('prefetch 1000, one long run', 20_000, 1, 1000);
  await measure('prefetch 1, one long run', 20_000, 1, 1);
  console.table(rows);
} finally {
  await broker.stop();
}
