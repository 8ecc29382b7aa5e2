import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '#local/processes.ts';
import { projectRoot } from '#local/state.ts';
import { type CliResult, testbed } from '../support/cli.ts';
import { testDir } from '../support/temp.ts';

type Json = Record<string, unknown> & { items?: Record<string, unknown>[] };

describe('the monitor faces after a local run', () => {
  let env: Record<string, string>;
  let run: CliResult;
  let runId: string;
  let executionId: string;
  let api: (path: string) => Promise<Json>;
  let mcp: Client;
  let tool: (name: string, args: Record<string, unknown>) => Promise<Json>;
  let cli: (...args: string[]) => Promise<Json>;

  beforeAll(async () => {
    env = {
      TESTBED_STATE_DIR: testDir('testbed-monitor-'),
      TESTBED_STOMP_PORT: String(await freePort()),
      TESTBED_DYNAMODB_PORT: String(await freePort()),
      TESTBED_API_PORT: String(await freePort()),
    };
    run = await testbed(['run', 'prompt_processing', '--no-realtime', '--stf-count', '3'], env, 180_000);
    runId = /Run (\d+) Summary/.exec(run.stdout)?.[1] ?? '';
    executionId = /Execution: (\S+)/.exec(run.stdout)?.[1] ?? '';
    api = async (path) =>
      (await fetch(`http://127.0.0.1:${env.TESTBED_API_PORT}${path}`)).json() as Promise<Json>;
    cli = async (...args) => {
      const r = await testbed([...args, '--json'], env);
      if (r.code !== 0) throw new Error(`testbed ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Json;
    };
    mcp = new Client({ name: 'faces-agree', version: '1.0.0' });
    await mcp.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(projectRoot, 'bin', 'testbed.js'), 'mcp'],
        env: { ...(process.env as Record<string, string>), ...env },
        stderr: 'pipe',
      }),
    );
    tool = async (name, args) => {
      const r = (await mcp.callTool({ name, arguments: args })) as { content: { text: string }[] };
      return JSON.parse(r.content[0]?.text ?? 'null') as Json;
    };
    // The run completes with its last result; the pilots' transformer_end and the scale-down follow.
    const deadline = Date.now() + 90_000;
    let last = '';
    for (;;) {
      const [pilots, messages] = await Promise.all([
        api(`/api/runs/${runId}/pilots`),
        api(`/api/runs/${runId}/messages?limit=1000`),
      ]);
      const settled = pilots.items?.every((p) => p.state !== 'running' && p.state !== 'requested') === true;
      const now = `${messages.items?.length}`;
      if ((settled && now === last) || Date.now() > deadline) break;
      last = now;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }, 300_000);

  afterAll(async () => {
    await mcp?.close();
    await testbed(['down'], env);
    rmSync(env.TESTBED_STATE_DIR as string, { recursive: true, force: true });
  });

  it('runs to completion', () => {
    // Assess
    expect(run.code, run.stderr).toBe(0);
    expect(runId).toMatch(/^\d+$/);
    expect(executionId).toMatch(/^prompt_processing-/);
    expect(run.stdout).toContain(
      `The local stack is still up (dashboard http://127.0.0.1:${env.TESTBED_API_PORT}): npx testbed down stops it.`,
    );
  });

  it('reports the same workflow status through the CLI, the API and the MCP tool', async () => {
    // Act
    const [viaCli, viaApi, viaMcp] = await Promise.all([
      cli('status', executionId),
      api(`/api/executions/${executionId}`),
      tool('swf_get_workflow_monitor', { execution_id: executionId }),
    ]);
    // Assess
    expect(viaApi).toEqual(viaCli);
    expect(viaMcp).toEqual(viaCli);
    expect(viaCli).toMatchObject({ run_id: runId, status: 'completed', phase: 'completed', stf_count: 3 });
    expect((viaCli.events as { type: string }[]).map((e) => e.type)).toEqual([
      'run_imminent',
      'start_run',
      'end_run',
      'completed',
    ]);
    expect(viaCli.errors).toEqual([]);
  });

  it('reports the same STF files, slices, jobs and messages through every face', async () => {
    // Act
    const faces = await Promise.all([
      Promise.all([
        cli('stf-files', '--run', runId),
        cli('slices', '--run', runId, '--limit', '1000'),
        cli('tasks', '--run', runId),
        cli('messages', '--execution', executionId, '--limit', '1000'),
      ]),
      Promise.all([
        api(`/api/runs/${runId}/stf-files`),
        api(`/api/runs/${runId}/slices?limit=1000`),
        api(`/api/runs/${runId}/pilots`),
        api(`/api/messages?execution_id=${executionId}&limit=1000`),
      ]),
      Promise.all([
        tool('swf_list_stf_files', { run_number: runId }),
        tool('swf_list_tf_slices', { run_number: runId, limit: 1000 }),
        tool('panda_list_jobs', { run_number: runId }),
        tool('swf_list_messages', { execution_id: executionId, limit: 1000 }),
      ]),
    ]);
    // Assess
    const [viaCli, viaApi, viaMcp] = faces;
    expect(viaApi).toEqual(viaCli);
    expect(viaMcp).toEqual(viaCli);
    const [stfs, slices, jobs, messages] = viaCli;
    expect(stfs.items?.map((s) => [s.sequence, s.status])).toEqual([
      [1, 'done'],
      [2, 'done'],
      [3, 'done'],
    ]);
    expect(slices.items?.filter((s) => s.status === 'done')).toHaveLength(15);
    expect(jobs.items?.map((p) => p.pilot_id)).toEqual([`${runId}-p01`, `${runId}-p02`]);
    expect(messages.items?.filter((m) => m.msg_type === 'stf_gen')).toHaveLength(3);
  });

  it('lists the latest run when `testbed slices` is given no run, and says which', async () => {
    // Act
    const [latest, chosen] = await Promise.all([
      testbed(['slices', '--limit', '1000', '--json'], env),
      cli('slices', '--run', runId, '--limit', '1000'),
    ]);
    // Assess
    expect(latest.stderr.trim()).toBe(`run ${runId} (latest; give --run to choose)`);
    expect(JSON.parse(latest.stdout)).toEqual(chosen);
  });

  it("shows the hosts that reported the run's results, each with its pilot, beside the pilots", async () => {
    // Act
    const [viaApi, viaMcp, status] = await Promise.all([
      api(`/api/runs/${runId}`),
      tool('swf_get_run', { run_number: runId }),
      testbed(['status', executionId], env),
    ]);
    // Assess
    const hosts = viaApi.result_hosts as { hostname: string; pilot_id: string; done: number }[];
    expect(viaMcp.result_hosts).toEqual(hosts);
    // Which of the two pilots took slices is the broker's choice: one may have taken them all.
    expect(hosts.length).toBeGreaterThan(0);
    expect(hosts.every((h) => [`${runId}-p01`, `${runId}-p02`].includes(h.pilot_id))).toBe(true);
    expect(hosts.reduce((n, h) => n + h.done, 0)).toBe((viaApi.slices as { done: number }).done);
    expect(status.stdout).toContain('├── Pilots: 2 (2 ended)');
    const first = hosts[0] as { pilot_id: string; done: number };
    expect(status.stdout).toContain(`(pilot ${first.pilot_id}): ${first.done} done, 0 failed`);
  });

  it('shows the stack and the run among the latest executions in testbed status', async () => {
    // Act
    const status = await cli('status');
    // Assess
    expect(
      (status.services as { service: string; healthy: boolean }[]).map((s) => [s.service, s.healthy]),
    ).toEqual([
      ['broker', true],
      ['dynalite', true],
      ['runner', true],
      ['api', true],
    ]);
    expect((status.executions as { execution_id: string }[])[0]?.execution_id).toBe(executionId);
  });

  it("finds the run's DAQ simulator, handler and pilot log lines by execution", async () => {
    // Act
    const logs = await cli('logs', '--execution', executionId, '--limit', '1000');
    // Assess
    const sources = new Set(logs.items?.map((l) => String(l.source).split('/')[0]));
    expect(sources).toEqual(new Set(['daq-simulator.log', 'runner.log', 'pilots']));
  });
});
