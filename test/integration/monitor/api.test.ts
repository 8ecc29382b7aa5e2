import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MonitorServer, startMonitorServer } from '#local/api/server.ts';
import { Monitor } from '#query/monitor.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import {
  context,
  EXECUTION,
  FOREIGN_EXECUTION,
  FOREIGN_RUN,
  RUN,
  seedForeignRun,
  seedRun,
  TASK,
} from './seed.ts';

describe('the monitor HTTP API', () => {
  let dynamo: TestDynamo;
  let server: MonitorServer;
  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${server.url}${path}`, init);
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), text, json: () => JSON.parse(text) };
  };
  beforeAll(async () => {
    dynamo = await startTestDynamo('api-');
    await seedRun(dynamo);
    await seedForeignRun(dynamo);
    server = await startMonitorServer({ monitor: new Monitor(context(dynamo)) });
  });
  afterAll(async () => {
    await server.close();
    await dynamo.stop();
  });

  it.each([
    [
      '/api/executions',
      (b: { items: { execution_id: string }[] }) =>
        b.items.map((r) => r.execution_id).join() === `${FOREIGN_EXECUTION},${EXECUTION}`,
    ],
    [`/api/executions/${EXECUTION}`, (b: { run_id: string }) => b.run_id === RUN],
    ['/api/runs', (b: { items: unknown[] }) => b.items.length === 3],
    [`/api/runs/${RUN}`, (b: { slices: { done: number } }) => b.slices.done === 8],
    [
      `/api/runs/${FOREIGN_RUN}`,
      (b: { pilots: { note?: string }; result_hosts: { hostname: string; done: number }[] }) =>
        b.pilots.note === 'no pilots started by the worker adjuster' &&
        b.result_hosts.map((h) => `${h.hostname} ${h.done}`).join() === 'eic-node-1 4,eic-node-2 1',
    ],
    [`/api/runs/${RUN}/stf-files?status=done`, (b: { items: unknown[] }) => b.items.length === 2],
    [
      `/api/runs/${RUN}/slices?limit=2`,
      (b: { items: unknown[]; next?: string }) => b.items.length === 2 && !!b.next,
    ],
    [`/api/runs/${RUN}/pilots`, (b: { items: { state: string }[] }) => b.items[1]?.state === 'lost'],
    [`/api/runs/${RUN}/messages?msg_type=stf_gen`, (b: { items: unknown[] }) => b.items.length === 3],
    [`/api/runs/${RUN}/delays`, (b: { slices_done: number }) => b.slices_done === 8],
    [`/api/runs/${RUN}/agents`, (b: { items: unknown[] }) => b.items.length === 4],
    [`/api/tasks/${TASK}/jobs`, (b: { items: unknown[] }) => b.items.length === 2],
    [
      `/api/messages?execution_id=${EXECUTION}&sender=data-handler`,
      (b: { items: unknown[] }) => b.items.length === 3,
    ],
    ['/api/logs?limit=10', (b: { items: unknown[] }) => Array.isArray(b.items)],
  ])('answers GET %s with JSON', async (path, check) => {
    // Act
    const res = await get(path);
    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.type).toContain('application/json');
    expect(check(res.json())).toBe(true);
  });

  it('pages /api/executions newest first, one at a time, the last page without next', async () => {
    // Act
    const first = (await get('/api/executions?limit=1')).json();
    const second = (await get(`/api/executions?limit=1&next=${first.next}`)).json();
    // Assess
    expect(first.items.map((r: { execution_id: string }) => r.execution_id)).toEqual([FOREIGN_EXECUTION]);
    expect(second.items.map((r: { execution_id: string }) => r.execution_id)).toEqual([EXECUTION]);
    expect(second.next).toBeUndefined();
  });

  it.each([
    [`/api/runs/${RUN}/slices?limit=1001`, 400, 'limit: 1001 is over the maximum of 1000'],
    [`/api/runs/${RUN}/slices?status=lost`, 400, 'status: '],
    [`/api/runs/${RUN}/messages?since=soon`, 400, 'since: not a timestamp'],
    [`/api/runs/${RUN}/stf-files?next=bm9wZQ`, 400, 'next: not a token this query returned'],
    ['/api/runs/12x', 400, 'run_id: expected digits'],
    ['/api/runs/999999', 404, 'run 999999 not found'],
    ['/api/executions/nobody-0001', 404, 'execution nobody-0001 not found'],
    ['/api/tasks/7/jobs', 404, 'task 7 not found'],
    ['/api/messages', 400, 'give exactly one of run_id, execution_id, task_id'],
    ['/api/nothing', 404, 'no such API path'],
  ])('answers GET %s with %i and a clear message', async (path, status, message) => {
    // Act
    const res = await get(path);
    // Assess
    expect(res.status).toBe(status);
    expect(res.json().error).toContain(message);
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('refuses %s with 405: the API only reads', async (method) => {
    // Act
    const res = await get('/api/runs', { method, body: method === 'DELETE' ? undefined : '{}' });
    // Assess
    expect(res.status).toBe(405);
    expect(res.json().error).toContain('read-only');
  });

  it('serves the dashboard at / and nothing outside its folder', async () => {
    // Act
    const index = await get('/');
    const script = await get('/app.js');
    const outside = await get('/..%2fpackage.json');
    // Assess
    expect(index.status).toBe(200);
    expect(index.text).toContain('<script type="module" src="app.js">');
    expect(script.type).toContain('text/javascript');
    expect(outside.status).toBe(404);
  });
});
