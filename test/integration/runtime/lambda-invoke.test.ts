import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { functionNames, invokeLoader, localStackLoader } from '#local/lambda-invoke.ts';
import { type MqHandler, type Runner, startRunner } from '#local/runner.ts';
import { credentialsFile } from '#local/state.ts';
import { createLogger } from '#log/logger.ts';
import { type MqEvent, mqEvent } from '#messaging/mq-event.ts';
import { destinations } from '#routes/destinations.ts';
import { type Route, routeFor } from '#routes/route-table.ts';
import { closeEnvironment, tableNames } from '#runtime/env.ts';
import { outputKeys } from '../../../lib/outputs.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { capture } from '../../support/capture.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { type LambdaEndpoint, startLambdaEndpoint } from '../../support/lambda-endpoint.ts';
import { eventually } from '../../support/local-stack.ts';

const route = (t: string): Route => {
  const r = routeFor(t);
  if (!r) throw new Error(t);
  return r;
};

// Run numbers of this file only.
let lastRun = 990_000_700;
const freshRun = () => String(++lastRun);

describe('Local runner invoking deployed functions (LocalStack mode), against a stand-in Invoke API', () => {
  let broker: TestBroker;
  let dynamo: TestDynamo;
  let endpoint: LambdaEndpoint;
  let port: BrokerPort;
  let runner: Runner;
  const inProcess: string[] = [];
  const failing: MqHandler = async () => {
    throw new Error('the function crashed');
  };
  // Throttled once, as DynamoDB in LocalStack may be, then fine.
  let throttled = 0;
  const flaky: MqHandler = async () => {
    if (throttled++ > 0) return;
    throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
  };
  // The stand-in runs the handler modules in this process, which read process.env: set it for this file only.
  const savedEnv: Record<string, string | undefined> = {};

  beforeAll(async () => {
    [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('lambda-invoke-')]);
    const settings: Record<string, string> = {
      ...dynamo.env,
      BROKER_URL: broker.url,
      BROKER_CREDENTIALS_FILE: credentialsFile(broker.stateDir),
    };
    for (const key of Object.keys(settings)) savedEnv[key] = process.env[key];
    Object.assign(process.env, settings);
    port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    endpoint = await startLambdaEndpoint(
      {
        'Local-StfGen': 'stf-gen',
        'Local-PauseRun': failing,
        'Local-Quiet': async () => ({ ok: 1 }),
        'Local-Flaky': flaky,
      },
      { SwfTestbedLocal: { [outputKeys.handlerFunction('start-run')]: 'Local-Quiet' }, Empty: {} },
    );
    // As the LocalStack stack's outputs name them (lib/localstack-stack.ts).
    const outputs = {
      [outputKeys.handlerFunction('stf-gen')]: 'Local-StfGen',
      [outputKeys.handlerFunction('pause-run')]: 'Local-PauseRun',
      [outputKeys.handlerFunction('resume-run')]: 'Local-Flaky',
    };
    const table = [route('stf_gen'), route('pause_run'), route('resume_run'), route('adjuster_worker')];
    const lambda = new LambdaClient({
      endpoint: endpoint.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    runner = await startRunner({
      broker: port,
      routes: table,
      load: invokeLoader({
        lambda,
        functions: functionNames(outputs, table),
        inProcess: async (r) => {
          inProcess.push(r.handler);
          return async () => {};
        },
      }),
      maximumRedeliveries: 1,
      retry: { redeliveryDelayMs: 50, backoffInitialMs: 50 },
      log: createLogger({}, () => {}),
    });
  }, 120_000);
  afterAll(async () => {
    await runner?.stop(1000);
    await port?.close();
    await closeEnvironment();
    await endpoint?.stop();
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await Promise.all([broker?.stop(), dynamo?.stop()]);
  });

  it('invokes the function of the queue with the Amazon MQ-shaped event, and the function does its work', async () => {
    // Prepare
    const runId = freshRun();
    const filename = `swf.${runId}.000001.stf`;
    const sent = encodeMessage(makeMessage('stf_gen', runId, { filename, sequence: 1 }));

    // Act
    await port.publish(destinations.epic, sent.body, sent.headers);
    const item = await eventually('the STF registered by the function', async () => {
      const { Item } = await dynamo.client.send(
        new GetItemCommand({
          TableName: tableNames(dynamo.env).stfs,
          Key: { run_id: { S: runId }, filename: { S: filename } },
        }),
      );
      return Item;
    });

    // Assess
    expect(item.filename?.S).toBe(filename);
    const invocation = endpoint.invocations.find((i) => i.functionName === 'Local-StfGen');
    const event = invocation?.event as MqEvent;
    expect(event.eventSource).toBe('aws:mq');
    expect(event.messages[0]?.destination.physicalName).toBe('swf.handler.stf_gen');
    expect(Buffer.from(event.messages[0]?.data ?? '', 'base64').toString('utf8')).toBe(sent.body);
    expect(event.messages[0]?.properties).toMatchObject({ msg_type: 'stf_gen', run_id: runId });
  });

  it('retries a batch whose function fails, then parks it with the function error as its reason', async () => {
    // Prepare
    const dlq = await capture(port, '/queue/DLQ.swf.handler.pause_run');
    const sent = encodeMessage(makeMessage('pause_run', freshRun(), {}));

    // Act
    await port.publish(destinations.epic, sent.body, sent.headers);
    const [parked] = await dlq.until(1);

    // Assess
    const redelivered = endpoint.invocations
      .filter((i) => i.functionName === 'Local-PauseRun')
      .map((i) => (i.event as MqEvent).messages[0]?.redelivered);
    expect(redelivered).toEqual([false, true]);
    expect(parked?.body).toBe(sent.body);
    expect(parked?.headers.dlq_reason).toBe('pause_run handler failed 2 times, last: the function crashed');
  });

  it("waits out a function's transient failure (its error type kept) without spending a redelivery", async () => {
    // Prepare
    const sent = encodeMessage(makeMessage('resume_run', freshRun(), {}));
    const calls = () => endpoint.invocations.filter((i) => i.functionName === 'Local-Flaky');
    const parkedBefore = runner.stats.parked;

    // Act
    await port.publish(destinations.epic, sent.body, sent.headers);
    await eventually('the second invocation', () => calls().length >= 2 || undefined);

    // Assess
    expect(calls()).toHaveLength(2);
    expect(runner.stats.transientFailures).toBe(1);
    expect(runner.stats.parked).toBe(parkedBefore);
  });

  it('handles in process the queue whose handler has no function (the worker adjuster, which starts local pilots)', () => {
    // Prepare
    const deployed = Object.keys(
      functionNames({ [outputKeys.handlerFunction('stf-gen')]: 'F' }, [
        route('stf_gen'),
        route('adjuster_worker'),
      ]),
    );

    // Act
    const local = inProcess;

    // Assess
    expect(local).toEqual(['adjuster-worker']);
    expect(deployed).toEqual(['stf-gen']);
  });

  it("finds each handler's function among the LocalStack stack's outputs, at LocalStack's one URL", async () => {
    // Prepare
    const target = {
      url: endpoint.url,
      stackName: 'SwfTestbedLocal',
      region: 'us-east-1',
      dynamodbEndpoint: endpoint.url,
    };
    const table = [route('start_run'), route('adjuster_worker')];
    const local: string[] = [];
    const load = await localStackLoader(target, table, async (r) => {
      local.push(r.handler);
      return async () => 'in process';
    });

    // Act
    const [startRun, adjuster] = await Promise.all(table.map(load));
    const results = [await startRun?.(mqEvent([])), await adjuster?.(mqEvent([]))];

    // Assess
    expect(results).toEqual([{ ok: 1 }, 'in process']);
    expect(local).toEqual(['adjuster-worker']);
    expect(endpoint.invocations.at(-1)?.functionName).toBe('Local-Quiet');
  });

  it('refuses a LocalStack stack without handler functions, naming the stack and how to deploy it', async () => {
    // Prepare
    const target = {
      url: endpoint.url,
      stackName: 'Empty',
      region: 'us-east-1',
      dynamodbEndpoint: endpoint.url,
    };

    // Act
    const loading = localStackLoader(target, [route('start_run')], async () => async () => {});

    // Assess
    await expect(loading).rejects.toThrow(
      /stack Empty at http:\/\/127\.0\.0\.1:\d+ has no handler functions: deploy it/,
    );
  });
});
