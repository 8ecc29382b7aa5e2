import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '#local/processes.ts';
import { awaitedDependency, isTransient } from '#messaging/failures.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';

/** A DynamoDB client as the handlers build one, without the SDK's own retries (one attempt, one error). */
const client = (port: number, requestTimeout?: number) =>
  new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
    ...(requestTimeout !== undefined && { requestHandler: { requestTimeout, throwOnRequestTimeout: true } }),
  });

/** What the SDK throws for one DescribeTable call against `port`. */
async function errorFrom(port: number, requestTimeout?: number): Promise<unknown> {
  const c = client(port, requestTimeout);
  try {
    await c.send(new DescribeTableCommand({ TableName: 'nowhere' }));
  } catch (error) {
    return error;
  } finally {
    c.destroy();
  }
  throw new Error('the call succeeded');
}

/** An HTTP server answering every request as DynamoDB does with an error of this status and type. */
async function answering(status: number, type: string): Promise<{ port: number; close(): void }> {
  const server = http.createServer((_, res) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(
      JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: 'as DynamoDB says it' }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

describe('Function: isTransient', () => {
  let dynamo: TestDynamo;
  beforeAll(async () => {
    dynamo = await startTestDynamo('failures-');
  });
  afterAll(async () => {
    await dynamo?.stop();
  });

  it('takes a refused connection to DynamoDB for unavailable infrastructure', async () => {
    // Prepare
    const closedPort = await freePort();
    // Act
    const error = await errorFrom(closedPort);
    // Assess
    expect((error as Error).message).toMatch(/connect ECONNREFUSED/);
    expect(isTransient(error)).toBe(true);
    expect(awaitedDependency(error)).toBe('DynamoDB');
  });

  it('takes a request that timed out for unavailable infrastructure', async () => {
    // Prepare: a server that accepts and never answers
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    // Act
    const error = await errorFrom((silent.address() as AddressInfo).port, 200);
    silent.close();
    // Assess
    expect((error as Error).name).toBe('TimeoutError');
    expect(isTransient(error)).toBe(true);
  });

  it.each([
    [400, 'ThrottlingException'],
    [400, 'ProvisionedThroughputExceededException'],
    [500, 'InternalServerError'],
    [503, 'ServiceUnavailable'],
    [502, 'SomethingNobodyKnows'],
  ])('takes a %i %s from DynamoDB for unavailable infrastructure', async (status, type) => {
    // Prepare
    const server = await answering(status, type);
    // Act
    const error = await errorFrom(server.port);
    server.close();
    // Assess
    expect((error as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(status);
    expect(isTransient(error)).toBe(true);
  });

  it('takes a missing table for poison, not for an outage', async () => {
    // Prepare: dynalite itself, asked for a table it does not have
    // Act
    const error = await errorFrom(dynamo.port);
    // Assess
    expect((error as Error).name).toBe('ResourceNotFoundException');
    expect(isTransient(error)).toBe(false);
  });

  it('takes a refused connection inside an AggregateError or as a cause for unavailable infrastructure', async () => {
    // Prepare
    const refused = await errorFrom(await freePort());
    // Act
    const aggregate = new AggregateError([new Error('first'), refused], 'several addresses');
    const wrapped = new Error('registering the STF failed', { cause: refused });
    // Assess
    expect(isTransient(aggregate)).toBe(true);
    expect(isTransient(wrapped)).toBe(true);
  });

  it('takes a plain bug for poison', () => {
    // Prepare
    const bug = new TypeError("Cannot read properties of undefined (reading 'run_id')");
    // Act
    const transient = isTransient(bug);
    // Assess
    expect(transient).toBe(false);
    expect(awaitedDependency(bug)).toBe('the broker');
  });
});
