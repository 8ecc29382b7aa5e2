import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoClient } from '#local/dynalite.ts';
import { freePort } from '#local/processes.ts';
import { resolveStack, stackEnvironment } from '#local/stack.ts';
import { projectRoot } from '#local/state.ts';
import { FOREIGN_RUN, seedForeignRun } from '../integration/monitor/seed.ts';
import { launchChromium } from '../support/chromium.ts';
import { type CliResult, testbed } from '../support/cli.ts';
import { testDir } from '../support/temp.ts';

const artifacts = join(projectRoot, 'test', 'artifacts');

// A short realtime run: five STFs a second apart, slices that take 0.2 s, so results come in for seconds.
const shortRun = [
  'run',
  'prompt_processing',
  '--realtime',
  '--stf-count',
  '5',
  '--set',
  'daq_state_machine.no_beam_not_ready_delay=1',
  '--set',
  'daq_state_machine.beam_not_ready_delay=1',
  '--set',
  'daq_state_machine.beam_ready_delay=1',
  '--set',
  'daq_state_machine.beam_not_ready_end_delay=1',
  '--set',
  'simulation.stf_interval=1',
  '--set',
  'prompt_processing.slice_processing_time=0.2',
];

describe('the dashboard during a realtime run, in headless Chromium', () => {
  let env: Record<string, string>;
  let base: string;
  let browser: Browser;
  let running: Promise<CliResult>;

  beforeAll(async () => {
    env = {
      TESTBED_STATE_DIR: testDir('testbed-dashboard-'),
      TESTBED_STOMP_PORT: String(await freePort()),
      TESTBED_DYNAMODB_PORT: String(await freePort()),
      TESTBED_API_PORT: String(await freePort()),
    };
    base = `http://127.0.0.1:${env.TESTBED_API_PORT}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await running?.catch(() => undefined);
    await testbed(['down'], env);
    rmSync(env.TESTBED_STATE_DIR as string, { recursive: true, force: true });
  });

  it('shows the slices done growing on the run page, as the API counts them, against the slices expected from the start', async () => {
    // Prepare
    running = testbed(shortRun, env, 120_000);
    const runId = await waitForRun(base, 60_000);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${base}/#/runs/${runId}`);
    const done = page.getByTestId('slices-done');
    await done.waitFor({ timeout: 20_000 });

    // Act: watch the count while the run goes, then once more after it has completed.
    const seen: number[] = [];
    const expectedSeen = new Set<string>();
    let status = '';
    const deadline = Date.now() + 60_000;
    while (status !== 'completed' && Date.now() < deadline) {
      seen.push(Number(await done.textContent()));
      expectedSeen.add((await page.getByTestId('slices-expected').textContent()) ?? '');
      status = (await page.getByTestId('run-status').textContent()) ?? '';
      await page.waitForTimeout(250);
    }
    const result = await running;
    await page.waitForTimeout(1500);
    const final = Number(await done.textContent());
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'dashboard-run.png'), fullPage: true });
    const summary = (await (await fetch(`${base}/api/runs/${runId}`)).json()) as {
      slices: { done: number };
      result_hosts: { pilot_id: string }[];
    };
    const hostRows = await page.getByTestId('result-hosts').locator('tbody tr').allTextContents();

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(status).toBe('completed');
    const distinct = [...new Set(seen)];
    expect(distinct.length, `counts seen: ${distinct.join(', ')}`).toBeGreaterThanOrEqual(3);
    expect([...distinct].sort((a, b) => a - b)).toEqual(distinct);
    expect(final).toBe(25);
    // The configuration's 5 STFs × 5 slices from the start, not the slices of the STFs registered so far.
    expect([...expectedSeen].filter((v) => v !== '–')).toEqual(['25']);
    expect(summary.slices.done).toBe(final);
    expect(hostRows).toHaveLength(summary.result_hosts.length);
    expect(hostRows.join()).toContain(`${runId}-p01`);
    expect(await page.getByTestId('done-plot').locator('path').count()).toBe(1);
    expect(await page.getByTestId('delay-histogram').locator('rect').count()).toBeGreaterThan(0);
    expect(pageErrors).toEqual([]);
  }, 150_000);

  it('lists the execution and its run on the front page, linking to the run', async () => {
    // Prepare
    const page = await browser.newPage();
    // Act
    await page.goto(`${base}/`);
    const link = page.locator('a[href^="#/runs/"]').first();
    await link.waitFor({ timeout: 10_000 });
    await link.click();
    // Assess
    await expect(page.getByTestId('run-status').textContent()).resolves.toBe('completed');
  });

  it('shows a run served only by foreign pilots: its result hosts, and no pilot started by the adjuster', async () => {
    // Prepare: the records upstream's transformer leaves, in the stack's tables.
    const stackEnv = stackEnvironment(resolveStack({ stateDir: env.TESTBED_STATE_DIR }, env));
    const client = localDynamoClient(Number(env.TESTBED_DYNAMODB_PORT));
    await seedForeignRun({ client, env: stackEnv });
    client.destroy();
    const page = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
    // Act
    await page.goto(`${base}/#/runs/${FOREIGN_RUN}`);
    const hosts = page.getByTestId('result-hosts');
    await hosts.waitFor({ timeout: 10_000 });
    const rows = await Promise.all(
      (await hosts.locator('tbody tr').all()).map((tr) => tr.locator('td').allTextContents()),
    );
    // Assess
    expect(rows).toEqual([
      ['eic-node-1', '–', '4', '0'],
      ['eic-node-2', '–', '1', '1'],
    ]);
    await expect(page.getByText('no pilots started by the worker adjuster').count()).resolves.toBe(1);
    await expect(page.getByTestId('pilots').textContent()).resolves.toBe('none');
  });
});

/** The run id of the first run the API lists. */
async function waitForRun(base: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const runs = (await (await fetch(`${base}/api/runs`)).json()) as { items?: { run_id: string }[] };
      const id = runs.items?.[0]?.run_id;
      if (id) return id;
    } catch {
      // The API is not up yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no run listed at ${base}/api/runs within ${timeoutMs / 1000} s`);
}
