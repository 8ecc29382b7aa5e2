import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpEvent, HttpResult } from '../../../functions/monitor-api/handler.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { EXECUTION, RUN, seedRun } from './seed.ts';

describe('Handler: monitor-api (the AWS face)', () => {
  let dynamo: TestDynamo;
  let handler: (event: HttpEvent) => Promise<HttpResult>;
  const saved = { ...process.env };
  beforeAll(async () => {
    dynamo = await startTestDynamo('lambda-');
    await seedRun(dynamo);
    // The handler builds its context from the environment when loaded, as in Lambda.
    Object.assign(process.env, dynamo.env);
    ({ handler } = await import('../../../functions/monitor-api/handler.ts'));
  });
  afterAll(async () => {
    for (const key of Object.keys(dynamo.env)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    await dynamo.stop();
  });

  it('answers a function URL event (payload 2.0) with the query layer', async () => {
    // Act
    const res = await handler({
      rawPath: `/api/executions/${EXECUTION}`,
      requestContext: { http: { method: 'GET' } },
      queryStringParameters: {},
    });
    // Assess
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ run_id: RUN, stf_count: 3 });
  });

  it('answers an API Gateway REST event (1.0), bad filters with 400', async () => {
    // Act
    const res = await handler({
      path: `/api/runs/${RUN}/slices`,
      httpMethod: 'GET',
      queryStringParameters: { limit: '100000' },
    });
    // Assess
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).error).toBe('limit: 100000 is over the maximum of 1000');
  });

  it('refuses writes with 405', async () => {
    // Act
    const res = await handler({ rawPath: '/api/runs', requestContext: { http: { method: 'DELETE' } } });
    // Assess
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });
});
