import { rmSync } from 'node:fs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { MAX_WORKERS_PER_RUN } from '#config/workflow-schema.ts';
import { makeMessage } from '#contract/messages.ts';
import { adjustWorkers, type PilotDeps } from '#domain/worker-adjuster.ts';
import { localPilotLauncher } from '#local/pilot-launcher.ts';
import { tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { capture } from '../../support/capture.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { testDir } from '../../support/temp.ts';
import { memoryLogger } from './support.ts';

let broker: TestBroker;
let dynamo: TestDynamo;
let client: BrokerPort;
let deps: PilotDeps;
const stateDir = testDir('testbed-worker-ceiling-');

beforeAll(async () => {
  [broker, dynamo] = await Promise.all([startTestBroker(), startTestDynamo('ceiling-')]);
  client = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
  deps = {
    broker: client,
    db: dynamo.client,
    tableNames: tableNames(dynamo.env),
    log: memoryLogger(),
    launcher: localPilotLauncher({ stateDir, env: { ...process.env, ...dynamo.env } }),
  };
});
afterAll(async () => {
  await client?.close();
  await Promise.all([broker?.stop(), dynamo?.stop()]);
  rmSync(stateDir, { recursive: true, force: true });
});

const adjusterWorker = (runId: string, numWorkers: number, requestedAt: string) =>
  makeMessage(
    'adjuster_worker',
    runId,
    { num_workers: numWorkers, num_cores_per_worker: 1, num_ram_per_core: 2000, requested_at: requestedAt },
    { namespace: 'ceiling-test', createdAt: requestedAt },
  );

const pilotsOf = async (runId: string) =>
  (
    await documents(dynamo.client).send(
      new QueryCommand({
        TableName: deps.tableNames.pilots,
        KeyConditionExpression: 'run_id = :r',
        ExpressionAttributeValues: { ':r': runId },
        ConsistentRead: true,
      }),
    )
  ).Items ?? [];

describe('Worker adjuster: the ceiling of pilots per run', () => {
  it('parks an adjuster_worker asking for more pilots than the ceiling, with the reason, and starts none', async () => {
    // Prepare
    const runId = '930001';
    const parked = await capture(client, '/queue/DLQ.swf.handler.adjuster_worker', `run_id = '${runId}'`);
    const request = adjusterWorker(runId, MAX_WORKERS_PER_RUN + 1, new Date().toISOString());

    // Act
    const outcomes = await adjustWorkers([request], deps);

    // Assess
    expect(outcomes).toEqual([]);
    expect(await pilotsOf(runId)).toEqual([]);
    const [letter] = await parked.until(1);
    expect(letter?.headers.dlq_reason).toBe(
      `adjuster_worker asks for ${MAX_WORKERS_PER_RUN + 1} pilots for run ${runId}, above the ceiling of ` +
        `${MAX_WORKERS_PER_RUN} pilots per run: nothing started or stopped`,
    );
    await parked.stop();
  });

  it('applies the request it allows, even when a later one of the batch is over a lowered ceiling', async () => {
    // Prepare
    const runId = '930002';
    const parked = await capture(client, '/queue/DLQ.swf.handler.adjuster_worker', `run_id = '${runId}'`);
    const earlier = adjusterWorker(runId, 0, '2026-01-01T00:00:00.000000');
    const later = adjusterWorker(runId, 3, '2026-01-01T00:00:01.000000');

    // Act
    const outcomes = await adjustWorkers([earlier, later], { ...deps, maxWorkersPerRun: 2 });

    // Assess
    expect(outcomes.map((o) => [o.runId, o.numWorkers, o.started])).toEqual([[runId, 0, []]]);
    const [letter] = await parked.until(1);
    expect(letter?.headers.dlq_reason).toMatch(/asks for 3 pilots for run 930002, above the ceiling of 2/);
    await parked.stop();
  });
});
