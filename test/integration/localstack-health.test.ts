import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStackHealth } from '#local/stack-status.ts';
import { type LambdaEndpoint, startLambdaEndpoint } from '../support/lambda-endpoint.ts';

describe("testbed status: LocalStack's health, as the handlers of testbed up --localstack", () => {
  let localstack: Server;
  let localstackUrl: string;
  let standIn: LambdaEndpoint;

  beforeAll(async () => {
    // Answers as LocalStack's edge does (GET /_localstack/health).
    localstack = createServer((req, res) => {
      if (req.url !== '/_localstack/health') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          services: { lambda: 'running', dynamodb: 'available', s3: 'running', sqs: 'disabled' },
          edition: 'community',
          version: '4.0.0',
        }),
      );
    });
    await new Promise<void>((resolve) => localstack.listen(0, '127.0.0.1', resolve));
    localstackUrl = `http://127.0.0.1:${(localstack.address() as AddressInfo).port}`;
    standIn = await startLambdaEndpoint({});
  });

  afterAll(async () => {
    await standIn?.stop();
    await new Promise((resolve) => localstack?.close(resolve));
  });

  it('names the version and the state of the services a run uses', async () => {
    // Prepare / Act
    const health = await localStackHealth(localstackUrl, 'SwfTestbedLocal');

    // Assess
    expect(health).toEqual({
      service: 'handlers',
      address: `LocalStack ${localstackUrl} (stack SwfTestbedLocal)`,
      healthy: true,
      message: 'version 4.0.0: lambda running, dynamodb available, s3 running, cloudformation absent',
    });
  });

  it('shows what an endpoint without a health check answers, as unhealthy', async () => {
    // Prepare / Act
    const health = await localStackHealth(standIn.url, 'SwfTestbedLocal');

    // Assess
    expect(health).toMatchObject({ healthy: false, message: 'health answered HTTP 404' });
  });

  it('calls a LocalStack that is not there unreachable', async () => {
    // Prepare
    const gone = await startLambdaEndpoint({});
    await gone.stop();

    // Act
    const health = await localStackHealth(gone.url, 'SwfTestbedLocal');

    // Assess
    expect(health).toMatchObject({ healthy: false, message: expect.stringMatching(/^unreachable: /) });
  });
});
