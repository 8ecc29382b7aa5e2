import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { endRuns } from '#domain/runs.ts';
import { listDeadLetters } from '#local/dead-letters.ts';
import { freePort } from '#local/processes.ts';
import { type MqEvent, mqEvent, toMqMessage } from '#messaging/mq-event.ts';
import { park } from '#messaging/park.ts';
import { replayTransientDeadLetters } from '#runtime/dead-letter-replay.ts';
import { tableNames } from '#runtime/env.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { documents } from '#tables/documents.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { capture } from '../../support/capture.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { memoryLogger } from '../pilots/support.ts';

const QUEUE = 'swf.handler.end_run';
const minute = 60_000;

describe('Transient failures in AWS: parked as transient, replayed with back-off, a bounded number of times', () => {
  let broker: TestBroker;
  let dynamo: TestDynamo;
  let port: BrokerPort;
  /** DynamoDB away: a client of a port nobody listens on (connect ECONNREFUSED), without the SDK's retries. */
  let away: DynamoDBClient;
  const log = memoryLogger();

  beforeAll(async () => {
    [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('transient-')]);
    port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    away = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    away?.destroy();
    await port?.close();
    await Promise.all([broker?.stop(), dynamo?.stop()]);
  });

  /** The end_run handler as the CDK stack deploys it (TRANSIENT_FAILURES=park), its retries shortened. */
  const endRunHandler = (db: () => DynamoDBClient, names = () => tableNames(dynamo.env)) =>
    mqHandler('end_run', async () => ({ broker: port, log, db: db(), tableNames: names() }), endRuns, {
      transientFailures: 'park',
      retryDelaysMs: [20, 20],
    });

  /** The next message of the handler queue, as Lambda's poller would hand it over. */
  async function take(): Promise<MqEvent> {
    const queue = await capture(port, `/queue/${QUEUE}`);
    try {
      const [m] = await queue.until(1);
      if (!m) throw new Error(`nothing on ${QUEUE}`);
      return mqEvent([toMqMessage(m)]);
    } finally {
      await queue.stop();
    }
  }

  async function send(runId: string): Promise<void> {
    const { body, headers } = encodeMessage(makeMessage('end_run', runId, { total_stf_files: 2 }));
    await port.publish(`/queue/${QUEUE}`, body, headers);
  }

  const parkedOf = async (runId: string) => listDeadLetters(port, { handler: 'end_run', runId });

  it('parks a batch whose tables stay unreachable as transient, and replays it after its back-off, the fault gone', async () => {
    // Prepare
    let db = away;
    const handler = endRunHandler(() => db);
    await send('100031');
    // Act
    const failed = await handler(await take());
    const [letter] = await parkedOf('100031');
    const early = await replayTransientDeadLetters(port, log, { now: () => Date.now() });
    const due = await replayTransientDeadLetters(port, log, { now: () => Date.now() + minute + 1000 });
    const replayed = await take();
    db = dynamo.client;
    const handled = await handler(replayed);
    const run = await documents(dynamo.client).send(
      new GetCommand({ TableName: tableNames(dynamo.env).runs, Key: { run_id: '100031' } }),
    );
    // Assess
    expect(failed).toEqual({ accepted: 1, refused: 0, parked: 1 });
    expect(letter?.headers.dlq_transient).toBe('true');
    expect(letter?.reason).toMatch(
      /^end_run handler failed 3 times for a transient reason, last: .*ECONNREFUSED/,
    );
    expect(letter?.original_queue).toBe(QUEUE);
    expect(early).toMatchObject({ replayed: [], waiting: 1 });
    expect(due.replayed).toEqual([
      { queue: `DLQ.${QUEUE}`, id: letter?.id, handler: 'end_run', run_id: '100031', replays: 1 },
    ]);
    const headers = replayed.messages[0]?.properties ?? {};
    expect(headers).toMatchObject({ msg_type: 'end_run', run_id: '100031', dlq_replays: '1' });
    expect(headers).not.toHaveProperty('dlq_transient');
    expect(headers).not.toHaveProperty('dlq_reason');
    expect(handled).toEqual({ accepted: 1, refused: 0 });
    expect(run.Item).toMatchObject({ run_id: '100031', ended: true, total_stf_files: 2 });
    expect(await parkedOf('100031')).toEqual([]);
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        level: 'INFO',
        message: 'parked message replayed after a transient failure',
        run_id: '100031',
        handler: 'end_run',
        replays: 1,
        reason: letter?.reason,
      }),
    );
  });

  it('goes on without parking when the outage ends within its in-process retries', async () => {
    // Prepare: DynamoDB away for the first attempt only
    let attempts = 0;
    const handler = mqHandler(
      'end_run',
      async () => ({ broker: port, log, db: dynamo.client, tableNames: tableNames(dynamo.env) }),
      (messages, deps) => endRuns(messages, { ...deps, db: attempts++ === 0 ? away : deps.db }),
      { transientFailures: 'park', retryDelaysMs: [20, 20] },
    );
    await send('100034');
    // Act
    const outcome = await handler(await take());
    // Assess
    expect(outcome).toEqual({ accepted: 1, refused: 0 });
    expect(attempts).toBe(2);
    expect(await parkedOf('100034')).toEqual([]);
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        message: 'batch failed for a transient reason: retried',
        handler: 'end_run',
        attempt: 1,
      }),
    );
  });

  it('throws a transient failure at once where its caller retries it (TRANSIENT_FAILURES unset, as locally)', async () => {
    // Prepare
    const handler = mqHandler(
      'end_run',
      async () => ({ broker: port, log, db: away, tableNames: tableNames(dynamo.env) }),
      endRuns,
    );
    await send('100035');
    const event = await take();
    // Act
    const outcome = handler(event);
    // Assess
    await expect(outcome).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await parkedOf('100035')).toEqual([]);
  });

  it('throws on a poison failure, parks refused input once with its reason, and never replays either', async () => {
    // Prepare: a table that does not exist is a fault of the deployment, not an outage
    const handler = endRunHandler(
      () => dynamo.client,
      () => ({ ...tableNames(dynamo.env), runs: 'no-such-table' }),
    );
    await send('100032');
    const poisonEvent = await take();
    await port.publish(`/queue/${QUEUE}`, '{"msg_type": "end_run", "run_id": "100032", "created_at": 7}', {
      msg_type: 'end_run',
      run_id: '100032',
    });
    const refusedEvent = await take();
    // What the broker does with the batch after the poller's redeliveries, as the runner parks it locally.
    await park(port, log, {
      queue: QUEUE,
      body: Buffer.from(poisonEvent.messages[0]?.data ?? '', 'base64').toString('utf8'),
      headers: poisonEvent.messages[0]?.properties ?? {},
      reason: 'end_run handler failed 7 times, last: ResourceNotFoundException',
      handler: 'end_run',
    });
    // Act
    const poison = handler(poisonEvent);
    await expect(poison).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const refused = await handler(refusedEvent);
    const pass = await replayTransientDeadLetters(port, log, {
      now: () => Date.now() + 365 * 24 * 60 * minute,
    });
    const parked = await parkedOf('100032');
    // Assess
    expect(refused).toEqual({ accepted: 0, refused: 1 });
    expect(pass.replayed.filter((l) => l.run_id === '100032')).toEqual([]);
    expect(pass.givenUp.filter((l) => l.run_id === '100032')).toEqual([]);
    expect(parked).toHaveLength(2);
    for (const l of parked) expect(l.headers).not.toHaveProperty('dlq_transient');
    expect(parked.map((l) => l.reason).sort()).toEqual([
      'end_run handler failed 7 times, last: ResourceNotFoundException',
      expect.stringMatching(/^end_run\.created_at: /),
    ]);
  });

  it('leaves a message parked for good once its replays are spent, logged once as given up', async () => {
    // Prepare
    const handler = endRunHandler(() => away);
    const policy = { firstDelayMs: 1000, maxReplays: 2 };
    const later = () => Date.now() + minute;
    await send('100033');
    // Act: fail, replay, fail, replay, fail: the third parking carries both replays
    const outcomes = [await handler(await take())];
    for (let i = 0; i < policy.maxReplays; i++) {
      await replayTransientDeadLetters(port, log, { now: later, policy });
      outcomes.push(await handler(await take()));
    }
    const last = await replayTransientDeadLetters(port, log, { now: later, policy });
    const after = await replayTransientDeadLetters(port, log, { now: later, policy });
    const parked = await parkedOf('100033');
    // Assess
    expect(outcomes.map((o) => o.parked)).toEqual([1, 1, 1]);
    expect(last.replayed).toEqual([]);
    expect(last.givenUp).toEqual([
      expect.objectContaining({ run_id: '100033', handler: 'end_run', replays: 2 }),
    ]);
    expect(after).toEqual({ replayed: [], givenUp: [], waiting: 0, missed: 0 });
    expect(parked).toHaveLength(1);
    expect(parked[0]?.headers).not.toHaveProperty('dlq_transient');
    expect(parked[0]?.headers).toMatchObject({ dlq_replays: '2', expires: '0' });
    expect(parked[0]?.reason).toMatch(
      /^2 automatic replays spent; end_run handler failed 3 times for a transient/,
    );
    const logged = log.lines.filter((l) => l.run_id === '100033');
    expect(
      logged.filter((l) => l.message === 'parked message replayed after a transient failure'),
    ).toHaveLength(2);
    expect(
      logged.filter(
        (l) => l.message === 'parked message given up: its transient failure outlasted its replays',
      ),
    ).toHaveLength(1);
  });
});
