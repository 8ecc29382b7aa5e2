// Messages/s through the local Lambda runner into a no-op handler: `npx tsx bench/runner.ts [messages]`.
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { startRunner } from '#local/runner.ts';
import { createLogger } from '#log/logger.ts';
import { destinations } from '#routes/destinations.ts';
import { routeFor } from '#routes/route-table.ts';
import { startTestBroker } from '../test/support/broker.ts';

const total = Number(process.argv[2] ?? 20_000);
const repetitions = 3;
const broker = await startTestBroker();
const connect = (name: string) =>
  connectBroker({ url: broker.url, ...broker.credentials, name, log: () => {} });
const [consumer, producer] = await Promise.all([connect('runner'), connect('producer')]);
const route = routeFor('stf_gen');
if (!route) throw new Error('no stf_gen route');

let handled = 0;
const runner = await startRunner({
  broker: consumer,
  routes: [route],
  load: async () => async (event) => {
    handled += event.messages.length;
  },
  log: createLogger({}, () => {}),
});

const bodies = Array.from({ length: total }, (_, i) =>
  encodeMessage(
    makeMessage('stf_gen', '100010', {
      filename: `swf.100010.${String(i + 1).padStart(6, '0')}.stf`,
      sequence: i + 1,
    }),
  ),
);

async function once(): Promise<number> {
  handled = 0;
  const t0 = performance.now();
  // Publishing and handling overlap, as during a run; a bounded window of publishes in flight.
  for (let i = 0; i < total; i += 500) {
    await Promise.all(
      bodies.slice(i, i + 500).map((m) => producer.publish(destinations.epic, m.body, m.headers)),
    );
  }
  while (handled < total) await new Promise((r) => setTimeout(r, 5));
  return total / ((performance.now() - t0) / 1000);
}

const rates: number[] = [];
for (let i = 0; i < repetitions; i++) rates.push(await once());
rates.sort((a, b) => a - b);
const median = rates[Math.floor(rates.length / 2)] ?? 0;
console.table([
  {
    benchmark: 'local runner -> no-op handler (persistent, via topic forwarding)',
    messages: total,
    'median msg/s': Math.round(median),
    runs: rates.map((r) => Math.round(r)).join(' / '),
    invocations: runner.stats.invocations,
  },
]);
await runner.stop();
await Promise.all([consumer.close(), producer.close()]);
await broker.stop();
