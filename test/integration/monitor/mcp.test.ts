import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monitorMcpServer } from '#local/mcp.ts';
import { projectRoot } from '#local/state.ts';
import { Monitor } from '#query/monitor.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';
import { testDir } from '../../support/temp.ts';
import { context, EXECUTION, FOREIGN_EXECUTION, RUN, seedForeignRun, seedRun, TASK } from './seed.ts';

const upstreamTools = [
  'swf_get_workflow_monitor',
  'swf_list_workflow_executions',
  'swf_list_runs',
  'swf_list_messages',
  'swf_list_stf_files',
  'swf_list_tf_slices',
  'swf_list_logs',
  'swf_list_agents',
  'panda_list_jobs',
];

type CallResult = { isError?: boolean; content: { type: string; text: string }[] };
const text = (r: unknown) => (r as CallResult).content[0]?.text ?? '';

describe('the MCP tools, through the SDK client', () => {
  let dynamo: TestDynamo;
  let client: Client;
  const call = async (name: string, args: Record<string, unknown> = {}) => {
    const r = (await client.callTool({ name, arguments: args })) as CallResult;
    return { isError: r.isError === true, text: text(r), json: () => JSON.parse(text(r)) };
  };
  beforeAll(async () => {
    dynamo = await startTestDynamo('mcp-');
    await seedRun(dynamo);
    await seedForeignRun(dynamo);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await monitorMcpServer(new Monitor(context(dynamo))).connect(serverSide);
    client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(clientSide);
  });
  afterAll(async () => {
    await client.close();
    await dynamo.stop();
  });

  it("offers upstream's tool names", async () => {
    // Act
    const { tools } = await client.listTools();
    // Assess
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(upstreamTools));
  });

  it.each([
    [
      'swf_get_workflow_monitor',
      { execution_id: EXECUTION },
      (b: { stf_count: number }) => b.stf_count === 3,
    ],
    ['swf_list_workflow_executions', {}, (b: { items: unknown[] }) => b.items.length === 2],
    ['swf_list_runs', {}, (b: { items: unknown[] }) => b.items.length === 3],
    ['swf_list_runs', { status: 'cancelled' }, (b: { items: unknown[] }) => b.items.length === 0],
    [
      'swf_get_run',
      { run_number: RUN },
      (b: {
        stfs: { expected: number };
        slices: { expected: number; done: number };
        messages: { total: number };
        pilots: { items: { slices_done: number }[] };
      }) =>
        b.stfs.expected === 3 &&
        b.slices.expected === 12 &&
        b.messages.total === 10 &&
        b.pilots.items.reduce((n, p) => n + p.slices_done, 0) === b.slices.done,
    ],
    [
      'swf_get_run',
      { execution_id: FOREIGN_EXECUTION },
      (b: { pilots: { total: number; note?: string }; result_hosts: { hostname: string }[] }) =>
        b.pilots.total === 0 &&
        b.pilots.note === 'no pilots started by the worker adjuster' &&
        b.result_hosts.map((h) => h.hostname).join() === 'eic-node-1,eic-node-2',
    ],
    [
      'swf_list_messages',
      { execution_id: EXECUTION, message_type: 'stf_gen' },
      (b: { items: unknown[] }) => b.items.length === 3,
    ],
    [
      'swf_list_messages',
      { run_number: Number(RUN), agent: 'data-handler' },
      (b: { items: unknown[] }) => b.items.length === 3,
    ],
    ['swf_list_stf_files', { run_number: Number(RUN) }, (b: { items: unknown[] }) => b.items.length === 3],
    [
      'swf_list_tf_slices',
      { run_number: RUN, status: 'failed' },
      (b: { items: unknown[] }) => b.items.length === 1,
    ],
    ['swf_list_logs', { execution_id: EXECUTION }, (b: { items: unknown[] }) => b.items.length === 0],
    ['swf_list_agents', { execution_id: EXECUTION }, (b: { items: unknown[] }) => b.items.length === 4],
    ['panda_list_jobs', { taskid: TASK, status: 'lost' }, (b: { items: unknown[] }) => b.items.length === 1],
  ])('answers %s %j', async (name, args, check) => {
    // Act
    const r = await call(name, args);
    // Assess
    expect(r.isError, r.text).toBe(false);
    expect(check(r.json())).toBe(true);
  });

  it.each([
    ['swf_get_workflow_monitor', { execution_id: 'nobody-0001' }, 'execution nobody-0001 not found'],
    ['swf_list_stf_files', { run_number: RUN, limit: 5000 }, 'limit: 5000 is over the maximum of 1000'],
    ['swf_list_messages', { run_number: RUN, start_time: 'whenever' }, 'since: not a timestamp'],
    ['swf_list_tf_slices', {}, 'give exactly one of run_id, execution_id, task_id'],
    ['panda_list_jobs', { taskid: 'x' }, 'task_id: expected a number'],
  ])('answers %s %j with a tool error', async (name, args, message) => {
    // Act
    const r = await call(name, args);
    // Assess
    expect(r.isError).toBe(true);
    expect(r.text).toContain(message);
  });
});

describe('testbed mcp on stdio', () => {
  let dynamo: TestDynamo;
  beforeAll(async () => {
    // The tables `testbed mcp` reads: the local stack's names (prefix testbed-) on a dynalite of our own.
    dynamo = await startTestDynamo('testbed-');
    await seedRun(dynamo);
  });
  afterAll(() => dynamo.stop());

  it('serves the tools to a client that spawns it', async () => {
    // Prepare
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(projectRoot, 'bin', 'testbed.js'), 'mcp'],
      env: {
        ...(process.env as Record<string, string>),
        TESTBED_STATE_DIR: testDir('testbed-mcp-'),
        TESTBED_DYNAMODB_PORT: String(dynamo.port),
      },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    // Act
    const r = await client.callTool({
      name: 'swf_get_workflow_monitor',
      arguments: { execution_id: EXECUTION },
    });
    await client.close();
    // Assess
    expect(JSON.parse(text(r))).toMatchObject({ run_id: RUN, stf_count: 3 });
  });
});
