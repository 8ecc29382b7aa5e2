import type { BrokerPort } from '#broker/port.ts';

export interface RawRun {
  readonly rate: number;
  readonly received: number;
  readonly stalled: boolean;
}

/** No progress for this long counts as a stall. */
const stallMs = 15_000;
let queues = 0;

const body = (i: number) =>
  JSON.stringify({
    msg_type: 'slice',
    run_id: '100010',
    created_at: new Date().toISOString(),
    namespace: 'bench',
    content: { slice_id: i, stf: 'swf.100010.000001.stf', start: i * 1000, end: i * 1000 + 999 },
  });

/**
 * Persistent messages/s from one producer to one consumer (client-individual acks), each on its own
 * connection: the producer publishes `n` messages at once, the clock stops at the last one received.
 */
export async function rawBrokerRun(
  connect: (name: string) => Promise<BrokerPort>,
  n: number,
  prefetch: number,
): Promise<RawRun> {
  const queue = `/queue/bench.${prefetch}.${process.pid}.${++queues}`;
  const [producer, consumer] = await Promise.all([connect('producer'), connect('consumer')]);
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
