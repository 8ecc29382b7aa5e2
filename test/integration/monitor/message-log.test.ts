import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import type { Logger } from '#log/logger.ts';
import { CONTENT_LIMIT } from '#messaging/message-log.ts';
import { type MqEvent, mqEvent, toMqMessage } from '#messaging/mq-event.ts';
import { tableNames } from '#runtime/env.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { documents } from '#tables/documents.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { memoryLogger } from '../pilots/support.ts';

let sequence = 0;

/** A broker message as the runner hands it to a handler. */
function delivered(body: string, headers: Record<string, string>, redelivered = false): ReceivedMessage {
  return {
    body,
    headers: { ...headers, timestamp: String(Date.parse('2025-03-01T10:00:00Z') + sequence) },
    destination: '/queue/swf.handler.stf_gen',
    messageId: `ID:test-${++sequence}`,
    redelivered,
    ack: () => {},
    nack: () => {},
  };
}

const deliver = (msg: ReturnType<typeof makeMessage>, redelivered = false): ReceivedMessage => {
  const { body, headers } = encodeMessage(msg);
  return delivered(body, headers, redelivered);
};

const event = (...messages: ReceivedMessage[]): MqEvent => mqEvent(messages.map((m) => toMqMessage(m)));

describe('mqHandler records the messages a handler takes', () => {
  let broker: TestBroker;
  let dynamo: TestDynamo;
  let port: BrokerPort;
  let deps: () => Promise<{ broker: BrokerPort; log: Logger } & Record<string, unknown>>;
  beforeAll(async () => {
    [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('msglog-')]);
    port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    const log = memoryLogger();
    deps = async () => ({ broker: port, log, db: dynamo.client, tableNames: tableNames(dynamo.env) });
  });
  afterAll(async () => {
    await port.close();
    await Promise.all([broker.stop(), dynamo.stop()]);
  });

  const recorded = async (runId: string) =>
    (
      await documents(dynamo.client).send(
        new QueryCommand({
          TableName: tableNames(dynamo.env).messages,
          KeyConditionExpression: 'run_id = :r',
          ExpressionAttributeValues: { ':r': runId },
        }),
      )
    ).Items ?? [];

  it('records accepted messages with type, sender, namespace, execution and bounded content', async () => {
    // Prepare
    const msg = makeMessage(
      'stf_gen',
      '100700',
      {
        filename: 'swf.100700.000001.stf',
        execution_id: 'pp-alice-0001',
        note: 'x'.repeat(2 * CONTENT_LIMIT),
      } as never,
      { namespace: 'alice', sender: 'daq_simulator-alice', createdAt: '2025-03-01T10:00:01Z' },
    );
    const { body, headers } = encodeMessage(msg);
    const handler = mqHandler('stf_gen', deps, async () => {});
    // Act
    await handler(event(delivered(body, headers)));
    // Assess
    const items = await recorded('100700');
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      msg_type: 'stf_gen',
      sender: 'daq_simulator-alice',
      namespace: 'alice',
      execution_id: 'pp-alice-0001',
      created_at: '2025-03-01T10:00:01.000000Z',
      handler: 'stf_gen',
      content_truncated: true,
    });
    expect(String(items[0]?.msg_key)).toMatch(/^2025-03-01T10:00:01\.000000Z#stf_gen#[0-9a-f]{16}$/);
    expect(String(items[0]?.content)).toHaveLength(CONTENT_LIMIT);
  });

  it('records a redelivered message once, under the same key', async () => {
    // Prepare
    const msg = makeMessage('stf_gen', '100701', { filename: 'swf.100701.000001.stf' } as never, {
      createdAt: '2025-03-01T10:00:02Z',
    });
    const { body, headers } = encodeMessage(msg);
    const handler = mqHandler('stf_gen', deps, async () => {});
    // Act
    await handler(event(delivered(body, headers)));
    await handler(event(delivered(body, headers, true), delivered(body, headers, true)));
    // Assess
    expect(await recorded('100701')).toHaveLength(1);
  });

  it('records refused messages with their reason, also when the body names no run', async () => {
    // Prepare
    const handler = mqHandler('stf_gen', deps, async () => {});
    const bad = delivered(JSON.stringify({ msg_type: 'stf_gen', run_id: '100702' }), {
      msg_type: 'stf_gen',
      run_id: '100702',
    });
    const garbage = delivered('not json at all', { msg_type: 'stf_gen' });
    // Act
    const outcome = await handler(event(bad, garbage));
    // Assess
    expect(outcome).toEqual({ accepted: 0, refused: 2 });
    const [ofRun] = await recorded('100702');
    expect(ofRun?.refused).toBe('stf_gen.content.filename: required');
    const noRun = await recorded('-');
    expect(noRun.map((m) => [m.msg_type, m.content])).toContainEqual(['stf_gen', 'not json at all']);
  });

  it('writes the execution and task lookups the messages carry', async () => {
    // Prepare
    const msg = makeMessage(
      'adjuster_worker',
      '100703',
      {
        num_workers: 1,
        num_cores_per_worker: 1,
        num_ram_per_core: 100,
        requested_at: '2025-03-01T10:00:00Z',
        task_id: 1000777,
      } as never,
      { createdAt: '2025-03-01T10:00:03Z' },
    );
    const imminent = makeMessage('run_imminent', '100703', { execution_id: 'pp-alice-0002' } as never, {
      createdAt: '2025-03-01T10:00:03Z',
    });
    // Act
    await mqHandler('adjuster_worker', deps, async () => {})(event(deliver(msg)));
    await mqHandler('run_imminent', deps, async () => {})(event(deliver(imminent)));
    // Assess
    const get = (lookup: string) =>
      documents(dynamo.client).send(
        new GetCommand({ TableName: tableNames(dynamo.env).lookups, Key: { lookup } }),
      );
    expect((await get('task:1000777')).Item?.run_id).toBe('100703');
    expect((await get('execution:pp-alice-0002')).Item?.run_id).toBe('100703');
  });

  it('records the batch even when the handler fails, and still fails the batch', async () => {
    // Prepare
    const msg = makeMessage('stf_gen', '100704', { filename: 'swf.100704.000001.stf' } as never, {
      createdAt: '2025-03-01T10:00:04Z',
    });
    const { body, headers } = encodeMessage(msg);
    const handler = mqHandler('stf_gen', deps, async () => {
      throw new Error('domain failure');
    });
    // Act
    const outcome = handler(event(delivered(body, headers)));
    // Assess
    await expect(outcome).rejects.toThrow('domain failure');
    expect(await recorded('100704')).toHaveLength(1);
  });

  it('handles the batch when recording is not possible, and says why in the log', async () => {
    // Prepare
    const log = memoryLogger();
    const broken = async () => ({
      broker: port,
      log,
      db: dynamo.client,
      tableNames: { messages: 'no-such-table', lookups: 'no-such-table' },
    });
    const msg = makeMessage('stf_gen', '100705', { filename: 'swf.100705.000001.stf' } as never);
    const { body, headers } = encodeMessage(msg);
    let handled = 0;
    // Act
    await mqHandler('stf_gen', broken, async (m) => {
      handled += m.length;
    })(event(delivered(body, headers)));
    // Assess
    expect(handled).toBe(1);
    expect(log.lines.map((l) => l.message)).toContain('messages not recorded for the monitor');
  });
});
