import { join } from 'node:path';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { listDeadLetters } from '#local/dead-letters.ts';
import { type MqHandler, type Runner, startRunner } from '#local/runner.ts';
import { credentialsFile } from '#local/state.ts';
import { createLogger } from '#log/logger.ts';
import { destinations } from '#routes/destinations.ts';
import { handlerQueue, headerlessRoute, routeFor } from '#routes/route-table.ts';
import { closeEnvironment, environment, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { capture } from '../../support/capture.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { eventually, logRecords } from '../../support/local-stack.ts';
import { testDir } from '../../support/temp.ts';
import { connectUpstreamAgent, type UpstreamAgent } from '../../support/upstream-agent.ts';

const HEADERLESS = handlerQueue(headerlessRoute);

// Run numbers of this file only (the bad-input corpus uses 9900001xx).
let lastRun = 990_000_300;
const freshRun = () => String(++lastRun);

const queueOf = (msgType: string): string => {
  const route = routeFor(msgType);
  if (!route) throw new Error(`no route for ${msgType}`);
  return handlerQueue(route);
};

describe('Messages without a msg_type header, handled under the local runner', () => {
  let broker: TestBroker;
  let dynamo: TestDynamo;
  let port: BrokerPort;
  let agent: UpstreamAgent;
  let logFile: string;
  // The handler reads process.env: set it for this file only.
  const savedEnv: Record<string, string | undefined> = {};

  beforeAll(async () => {
    [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('headerless-')]);
    logFile = join(testDir('headerless-log-'), 'handler.log');
    const settings: Record<string, string> = {
      ...dynamo.env,
      BROKER_URL: broker.url,
      BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
      TESTBED_LOG_FILE: logFile,
    };
    for (const key of Object.keys(settings)) savedEnv[key] = process.env[key];
    Object.assign(process.env, settings);
    port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    agent = await connectUpstreamAgent(broker.url, broker.credentials);
  });
  afterAll(async () => {
    await agent?.close();
    await port?.close();
    await closeEnvironment();
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await Promise.all([broker?.stop(), dynamo?.stop()]);
  });

  describe('Function: headerless handler', () => {
    let runner: Runner;

    beforeAll(async () => {
      const { handler } = (await import('../../../functions/headerless/handler.ts')) as {
        handler: MqHandler;
      };
      runner = await startRunner({
        broker: (await environment()).broker,
        routes: [headerlessRoute],
        load: async () => handler,
        log: createLogger({}, () => {}),
      });
    });
    afterAll(async () => {
      await runner?.stop();
    });

    const recorded = async (runId: string) =>
      (
        await documents(dynamo.client).send(
          new QueryCommand({
            TableName: tableNames(dynamo.env).messages,
            KeyConditionExpression: 'run_id = :r',
            ExpressionAttributeValues: { ':r': runId },
            ConsistentRead: true,
          }),
        )
      ).Items ?? [];

    it('sends an upstream DAQ message on to its handler’s queue, persistent and with our headers, and not to the topic again', async () => {
      // Prepare
      const runId = freshRun();
      const body = JSON.stringify({
        msg_type: 'start_run',
        namespace: 'test-user',
        sender: 'daq_simulator-agent-testuser-17',
        execution_id: 'prompt_processing-testuser-0042',
        run_id: runId,
        timestamp: '2026-07-20T14:03:20.200000',
        simulation_tick: 19.1,
        state: 'run',
        substate: 'physics',
      });
      const onTopic = await capture(port, destinations.epic);
      const onQueue = await capture(port, `/queue/${queueOf('start_run')}`);

      // Act
      const sentAt = Date.now();
      agent.send(destinations.epic, body);
      const [forwarded] = await onQueue.until(1);
      await agent.close();
      agent = await connectUpstreamAgent(broker.url, broker.credentials);

      // Assess
      expect(forwarded?.body).toBe(body);
      expect(forwarded?.headers).toMatchObject({
        persistent: 'true',
        msg_type: 'start_run',
        run_id: runId,
        namespace: 'test-user',
        vo: 'eic',
        ttl: '43200000',
        forwarded_by: 'headerless',
      });
      expect(Number(forwarded?.headers.expires)).toBeGreaterThan(sentAt);
      expect(onTopic.messages.map((m) => m.body)).toEqual([body]);
      await Promise.all([onTopic.stop(), onQueue.stop()]);
    });

    it('records a message no handler here takes in the message log and says so in its log', async () => {
      // Prepare
      const runId = freshRun();
      const body = JSON.stringify({
        msg_type: 'tf_file_registered',
        namespace: 'test-user',
        sender: 'fastmon-agent-testuser-3',
        run_id: runId,
        timestamp: '2026-07-20T14:03:30.500000',
        tf_filename: `swf.${runId}.000001_tf_001.tf`,
      });

      // Act
      agent.send(destinations.epic, body);
      const items = await eventually('the message recorded', async () => {
        const found = await recorded(runId);
        return found.length > 0 && found;
      });

      // Assess
      expect(items).toEqual([
        expect.objectContaining({
          run_id: runId,
          msg_type: 'tf_file_registered',
          handler: 'headerless',
          sender: 'fastmon-agent-testuser-3',
          namespace: 'test-user',
          created_at: '2026-07-20T14:03:30.500000Z',
        }),
      ]);
      expect(items[0]?.refused).toBeUndefined();
      expect(logRecords(logFile)).toContainEqual(
        expect.objectContaining({
          message: 'recorded in the message log only: no handler here takes its msg_type',
          msg_type: 'tf_file_registered',
          run_id: runId,
        }),
      );
    });

    it('parks an unusable body in the headerless dead-letter queue with its reason', async () => {
      // Prepare
      const runId = freshRun();
      const body = JSON.stringify({ run_id: runId, filename: `swf.${runId}.000001.stf` });

      // Act
      agent.send(destinations.epic, body);
      const parked = await eventually('the body parked', async () =>
        (await listDeadLetters(port, { handler: 'headerless' })).find((l) => l.body === body),
      );

      // Assess
      expect(parked).toMatchObject({
        queue: 'DLQ.swf.handler.headerless',
        handler: 'headerless',
        run_id: runId,
        original_queue: HEADERLESS,
        reason: 'msg_type: required, in the body when no header names it',
      });
      expect(await recorded(runId)).toEqual([
        expect.objectContaining({ handler: 'headerless', refused: parked.reason }),
      ]);
    });
  });
});
