import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, type Message, makeMessage } from '#contract/messages.ts';
import { credentialsFile } from '#local/state.ts';
import { type MqMessage, mqEvent } from '#messaging/mq-event.ts';
import { destinations, sliceDestination } from '#routes/destinations.ts';
import { closeEnvironment, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { handler as sliceResultHandler } from '../../../functions/slice-result/handler.ts';
import { handler as stfReadyHandler } from '../../../functions/stf-ready/handler.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { type Capture, capture } from '../../support/capture.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';

let nextId = 1;

/** What Lambda's MQ poller would hand the handler for a body read from `queue`. */
function mqMessage(body: string, properties: Record<string, string>, queue: string): MqMessage {
  const now = Date.now();
  return {
    messageID: `ID:test-${nextId++}`,
    messageType: 'jms/text-message',
    data: Buffer.from(body, 'utf8').toString('base64'),
    redelivered: false,
    destination: { physicalName: queue },
    timestamp: now,
    brokerInTime: now,
    brokerOutTime: now,
    deliveryMode: 2,
    properties,
  };
}

const asMq = (msg: Message, queue: string) => {
  const { body, headers } = encodeMessage(msg);
  const { persistent: _p, expires: _e, ...properties } = headers;
  return mqMessage(body, properties, queue);
};

const result = (runId: string, content: Record<string, unknown>) =>
  makeMessage('slice_result', runId, {
    requested_at: '2026-07-20T14:03:23.000123Z',
    processing_start_at: '2026-07-20T14:03:23.004000Z',
    processed_at: '2026-07-20T14:03:24.090000Z',
    state: 'done',
    id: 'pilot-1',
    ...content,
  });

describe('Handlers', () => {
  let broker: TestBroker;
  let dynamo: TestDynamo;
  let listener: BrokerPort;
  let dlq: Capture;
  beforeAll(async () => {
    [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('handlers-')]);
    // environment() reads these on first use, as it reads a Lambda's or the local runner's.
    Object.assign(process.env, dynamo.env, {
      BROKER_URL: broker.url,
      BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
    });
    listener = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    dlq = await capture(listener, '/queue/DLQ.swf.handler.slice_result');
  });
  afterAll(async () => {
    await dlq?.stop();
    await listener?.close();
    await closeEnvironment();
    await Promise.all([broker?.stop(), dynamo?.stop()]);
  });

  describe('Handler: slice_result', () => {
    it('parks a result that matches no slice in the dead-letter queue with a reason and records the rest', async () => {
      // Prepare
      const runId = '300001';
      const good = result(runId, { filename: 'swf.300001.000001.stf', slice_id: 0, start: 0, end: 1 });
      const bad = result(runId, { slice_id: 1 });
      const queue = 'swf.handler.slice_result';
      // Act
      const outcome = await sliceResultHandler(mqEvent([asMq(good, queue), asMq(bad, queue)]));
      const [parked] = await dlq.until(1);
      // Assess
      expect(outcome).toEqual({ accepted: 2, refused: 0 });
      expect(parked?.headers.dlq_reason).toMatch(/^slice_result matches no slice of run 300001: /);
      expect(parked?.headers.run_id).toBe(runId);
      expect(JSON.parse(parked?.body ?? '{}').content.slice_id).toBe(1);
      const { Item } = await documents(dynamo.client).send(
        new GetCommand({
          TableName: tableNames(dynamo.env).slices,
          Key: { run_id: runId, slice_key: 'swf.300001.000001.stf#0000' },
        }),
      );
      expect(Item).toMatchObject({ state: 'done', pilot_id: 'pilot-1', start: 0, end: 1 });
    });

    it('parks a result the contract refuses (no processed_at) with the reason', async () => {
      // Prepare
      const before = dlq.messages.length;
      const body = JSON.stringify({
        msg_type: 'slice_result',
        run_id: '300002',
        created_at: '2026-07-20T14:03:24Z',
        content: { requested_at: '2026-07-20T14:03:23Z', filename: 'swf.300002.000001.stf', slice_id: 0 },
      });
      const msg = mqMessage(body, { msg_type: 'slice_result', run_id: '300002' }, 'swf.handler.slice_result');
      // Act
      const outcome = await sliceResultHandler(mqEvent([msg]));
      const parked = (await dlq.until(before + 1))[before];
      // Assess
      expect(outcome).toEqual({ accepted: 0, refused: 1 });
      expect(parked?.headers.dlq_reason).toBe('slice_result.content.processed_at: required');
    });
  });

  describe('Handler: stf_ready', () => {
    it('queues the slices of an STF announced by an upstream data agent', async () => {
      // Prepare
      const runId = '300003';
      const slices = await capture(listener, '/queue/panda.slices.transformer', `run_id = '${runId}'`);
      const body = JSON.stringify({
        msg_type: 'stf_ready',
        namespace: 'test-user',
        run_id: runId,
        filename: `swf.${runId}.000001.stf`,
        file_url: `file:///tmp/swf.${runId}.run/swf.${runId}.000001.stf`,
        checksum: 'ad:0a1b2c3d',
        size_bytes: 1048576,
        start: '20260720140322300000',
        end: '20260720140324300000',
        state: 'run',
        substate: 'physics',
        sequence: 1,
      });
      const msg = mqMessage(body, { msg_type: 'stf_ready', run_id: runId }, 'swf.handler.stf_ready');
      // Act
      await stfReadyHandler(mqEvent([msg]));
      const received = await slices.until(5);
      await slices.stop();
      // Assess
      expect(received.map((m) => m.headers.namespace)).toEqual(Array(5).fill('test-user'));
      const first = JSON.parse(received[0]?.body ?? '{}');
      expect(first.content).toMatchObject({ filename: `swf.${runId}.000001.stf`, tf_count: 1, sequence: 1 });
    });

    it.each([
      ['stf_ready says so', { slice_queue: 'run' }, undefined],
      ["only the run's config says so", {}, { slice_queue: 'run' }],
    ])("queues the slices on the run's own queue when %s", async (_case, said, config) => {
      // Prepare
      const runId = config ? '300005' : '300004';
      if (config)
        await documents(dynamo.client).send(
          new PutCommand({ TableName: tableNames().runs, Item: { run_id: runId, config } }),
        );
      const own = await capture(listener, sliceDestination(runId, 'run'));
      const shared = await capture(listener, destinations.slices, `run_id = '${runId}'`);
      const ready = makeMessage('stf_ready', runId, {
        filename: `swf.${runId}.000001.stf`,
        sequence: 1,
        tf_count: 5,
        ...said,
      });

      // Act
      await stfReadyHandler(mqEvent([asMq(ready, 'swf.handler.stf_ready')]));
      const received = await own.until(5);
      await Promise.all([own.stop(), shared.stop()]);

      // Assess
      expect(received.map((m) => JSON.parse(m.body).content.slice_id).sort()).toEqual([0, 1, 2, 3, 4]);
      expect(shared.messages).toEqual([]);
    });
  });
});
