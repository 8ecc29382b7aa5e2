import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { destinations } from '#routes/destinations.ts';
import type { TestBroker } from '../support/broker.ts';

// The route table reads TESTBED_RESULT_QUEUES when first loaded: set before the broker's configuration is
// generated from it (this file's modules are its own).
process.env.TESTBED_RESULT_QUEUES = '5';
const { handlerQueue, routes } = await import('#routes/route-table.ts');
const { browseQueue } = await import('#local/dead-letters.ts');
const { startTestBroker } = await import('../support/broker.ts');
const { eventually } = await import('../support/local-stack.ts');

const RESULTS = 60;
const resultQueues = routes.filter((r) => r.msgType === 'slice_result').map(handlerQueue);

describe('slice_result spread over 5 queues (TESTBED_RESULT_QUEUES=5)', () => {
  let broker: TestBroker;
  let pilots: BrokerPort[];
  let reader: BrokerPort;
  beforeAll(async () => {
    broker = await startTestBroker();
    const connect = () => connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    pilots = await Promise.all([connect(), connect(), connect()]);
    reader = await connect();
  });
  afterAll(async () => {
    await Promise.all([...(pilots ?? []), reader].map((p) => p?.close()));
    await broker?.stop();
  });

  it('lands every result published on the results topic in exactly one of the 5 queues, spread over all', async () => {
    // Prepare: three pilots, each its own producer (and message id sequence), as transformers publish
    const runId = '990000501';
    const sent = Array.from({ length: RESULTS }, (_, i) =>
      encodeMessage(
        makeMessage('slice_result', runId, {
          requested_at: '2026-07-20T14:03:23.000123Z',
          processed_at: '2026-07-20T14:03:24.090000Z',
          state: 'done',
          filename: 'swf.990000501.000001.stf',
          slice_id: i,
        }),
      ),
    );

    // Act
    for (const [i, m] of sent.entries())
      await (pilots[i % pilots.length] as BrokerPort).publish(destinations.results, m.body, m.headers);
    const queued = new Map<string, ReceivedMessage[]>();
    await eventually(`${RESULTS} results queued`, async () => {
      for (const q of resultQueues) queued.set(q, await browseQueue(reader, q, `run_id = '${runId}'`));
      return [...queued.values()].flat().length >= RESULTS;
    });

    // Assess
    expect(resultQueues).toEqual([
      'swf.handler.slice_result',
      'swf.handler.slice_result.1',
      'swf.handler.slice_result.2',
      'swf.handler.slice_result.3',
      'swf.handler.slice_result.4',
    ]);
    const bodies = [...queued.values()].flat().map((m) => m.body);
    expect(bodies.sort()).toEqual(sent.map((m) => m.body).sort());
    for (const [k, q] of resultQueues.entries()) {
      const ids = (queued.get(q) ?? []).map((m) => m.messageId);
      expect(ids.length, q).toBeGreaterThan(0);
      // Queue k holds the message ids ending in k or k + 5.
      for (const id of ids) expect(Number(id.at(-1)) % 5, `${id} in ${q}`).toBe(k);
    }
  });
});
