import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '#local/state.ts';
import { type CliResult, testbed } from '../support/cli.ts';
import { type TestStack, testStack } from '../support/local-stack.ts';

// biome-ignore lint/suspicious/noExplicitAny: the faces' JSON, read field by field below
type Json = any;

/** The figures the issue found in disagreement, as one face gives them. */
interface Figures {
  duration: string;
  stfs: { registered: number; expected: number };
  slices: { expected: number; done: number; failed: number };
  messages: number;
  byType: Record<string, number>;
  /** pilot id → [state, slices done] */
  pilots: Record<string, [string, number]>;
}

const STFS = 3;
const SLICES_PER_STF = 5;

/** A branch of a CLI tree (`├── Name: value`), its value. */
const branch = (text: string, name: string): string =>
  new RegExp(`── ${name}: (.*)`).exec(text)?.[1] ?? `(no ${name} line)`;

/** `a done, b failed, of c` */
const sliceWords = (line: string) => {
  const [, done, failed, expected] = /(\d+) done, (\d+) failed, of (\d+)/.exec(line) ?? [];
  return { expected: Number(expected), done: Number(done), failed: Number(failed) };
};

/** `id (state, n slices)`, comma-separated. */
const pilotWords = (line: string): Figures['pilots'] =>
  Object.fromEntries(
    [...line.matchAll(/(\S+) \((\w+), (\d+) slices\)/g)].map(([, id, state, n]) => [id, [state, Number(n)]]),
  );

/** `x of y` (and what follows). */
const stfWords = (line: string) => {
  const [, registered, expected] = /(\d+) of (\d+)/.exec(line) ?? [];
  return { registered: Number(registered), expected: Number(expected) };
};

/** A run summary or a workflow status (JSON), as every JSON face gives it. */
function fromJson(s: Json): Omit<Figures, 'pilots'> {
  return {
    duration: Number(s.duration_seconds).toFixed(1),
    stfs: { registered: s.stfs.registered, expected: s.stfs.expected },
    slices: s.slices,
    messages: typeof s.messages === 'number' ? s.messages : s.messages.total,
    byType: typeof s.messages === 'number' ? s.messages_by_type : s.messages.by_type,
  };
}

const pilotsOf = (items: { pilot_id: string; state: string; slices_done: number }[]): Figures['pilots'] =>
  Object.fromEntries(items.map((p) => [p.pilot_id, [p.state, p.slices_done]]));

describe('one set of numbers for a run, through every face', () => {
  let s: TestStack;
  let run: CliResult;
  let runId: string;
  let executionId: string;
  let api: (path: string) => Promise<Json>;
  let mcp: Client;
  let tool: (name: string, args: Record<string, unknown>) => Promise<Json>;

  beforeAll(async () => {
    s = await testStack('testbed-figures-');
    run = await testbed(
      [
        'run',
        'prompt_processing',
        '--no-realtime',
        '--stf-count',
        String(STFS),
        '--physics-period-count',
        '1',
        '--workers',
        '2',
      ],
      s.env,
      180_000,
    );
    runId = /Run (\d+) Summary/.exec(run.stdout)?.[1] ?? '';
    executionId = /Execution: (\S+)/.exec(run.stdout)?.[1] ?? '';
    api = async (path) => (await fetch(`http://127.0.0.1:${s.env.TESTBED_API_PORT}${path}`)).json();
    mcp = new Client({ name: 'figures', version: '1.0.0' });
    await mcp.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(projectRoot, 'bin', 'testbed.js'), 'mcp'],
        env: { ...(process.env as Record<string, string>), ...s.env },
        stderr: 'pipe',
      }),
    );
    tool = async (name, args) => {
      const r = (await mcp.callTool({ name, arguments: args })) as { content: { text: string }[] };
      return JSON.parse(r.content[0]?.text ?? 'null');
    };
    // The summary was printed once the run had settled; the faces are read once the records say so too.
    const deadline = Date.now() + 60_000;
    while (!(await api(`/api/runs/${runId}`)).settled && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
  }, 300_000);

  afterAll(async () => {
    await mcp?.close();
    await testbed(['down'], s.env);
    rmSync(s.env.TESTBED_STATE_DIR as string, { recursive: true, force: true });
  });

  it('completes, settles, and expects the STFs and slices of its configuration', async () => {
    // Act
    const summary = await api(`/api/runs/${runId}`);
    // Assess
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Run ${runId} Summary: completed`);
    expect(summary).toMatchObject({
      status: 'completed',
      settled: true,
      incomplete_reasons: [],
      stfs: { registered: STFS, planned: STFS, announced: STFS, expected: STFS },
      slices: { expected: STFS * SLICES_PER_STF, done: STFS * SLICES_PER_STF, failed: 0 },
    });
  });

  it('gives the same duration, messages, expected counts and per-pilot slices in every face', async () => {
    // Act
    const [runApi, executionApi, pilotsApi, runMcp, executionMcp, jobsMcp, statusText, statusJson, tasks] =
      await Promise.all([
        api(`/api/runs/${runId}`),
        api(`/api/executions/${executionId}`),
        api(`/api/runs/${runId}/pilots`),
        tool('swf_get_run', { run_number: runId }),
        tool('swf_get_workflow_monitor', { execution_id: executionId }),
        tool('panda_list_jobs', { run_number: runId }),
        testbed(['status', executionId], s.env),
        testbed(['status', executionId, '--json'], s.env),
        testbed(['tasks', '--run', runId, '--json'], s.env),
      ]);
    const summaryText = run.stdout;
    const status = statusText.stdout;
    const faces: Record<string, Figures> = {
      'the run summary': {
        duration: /Duration: ([\d.]+) s/.exec(summaryText)?.[1] ?? '',
        stfs: stfWords(branch(summaryText, 'STF files')),
        slices: sliceWords(branch(summaryText, 'Slices')),
        messages: Number(/Messages recorded: (\d+)/.exec(summaryText)?.[1]),
        byType: Object.fromEntries(
          [...summaryText.matchAll(/│ {3}[├└]── (\w+): (\d+)$/gm)].map(([, t, n]) => [t, Number(n)]),
        ),
        pilots: pilotWords(branch(summaryText, 'Pilots')),
      },
      'testbed status EXECUTION': {
        duration: /Duration: ([\d.]+) s/.exec(status)?.[1] ?? '',
        stfs: stfWords(branch(status, 'STF files')),
        slices: sliceWords(branch(status, 'Slices')),
        messages: Number(/Messages recorded: (\d+)/.exec(status)?.[1]),
        byType: Object.fromEntries(
          [...(/Messages recorded: \d+ \((.*)\)/.exec(status)?.[1] ?? '').matchAll(/(\w+) (\d+)/g)].map(
            ([, t, n]) => [t, Number(n)],
          ),
        ),
        pilots: pilotWords(/│ {3}└── (.*)/.exec(status)?.[1] ?? ''),
      },
      'testbed status EXECUTION --json': {
        ...fromJson(JSON.parse(statusJson.stdout)),
        pilots: pilotsOf(JSON.parse(tasks.stdout).items),
      },
      '/api/runs/N and /api/runs/N/pilots': { ...fromJson(runApi), pilots: pilotsOf(pilotsApi.items) },
      '/api/executions/X': { ...fromJson(executionApi), pilots: pilotsOf(executionApi.pilots.items) },
      'swf_get_run and panda_list_jobs': { ...fromJson(runMcp), pilots: pilotsOf(jobsMcp.items) },
      swf_get_workflow_monitor: { ...fromJson(executionMcp), pilots: pilotsOf(executionMcp.pilots.items) },
    };
    // Assess
    const reference = faces['/api/runs/N and /api/runs/N/pilots'] as Figures;
    for (const [face, figures] of Object.entries(faces))
      expect({ face, ...figures }).toEqual({ face, ...reference });
    expect(statusText.code, statusText.stderr).toBe(0);
    // The pilots ended, and their slices add up to the slices done.
    expect(Object.values(reference.pilots).map(([state]) => state)).toEqual(['ended', 'ended']);
    expect(Object.values(reference.pilots).reduce((n, [, done]) => n + done, 0)).toBe(reference.slices.done);
    // Every message of the log, by type: the run's DAQ broadcasts and STFs among them.
    expect(Object.values(reference.byType).reduce((a, b) => a + b, 0)).toBe(reference.messages);
    expect(reference.byType).toMatchObject({ run_imminent: 1, start_run: 1, end_run: 1, stf_gen: STFS });
    // The duration is the records' (start_run to completion), the same in the list of runs.
    const listed = (await api('/api/runs')).items.find((r: Json) => r.run_id === runId);
    expect(Number(listed.duration_seconds).toFixed(1)).toBe(reference.duration);
  });
});
