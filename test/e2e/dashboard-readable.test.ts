import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoClient } from '#local/dynalite.ts';
import { tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { launchChromium } from '../support/chromium.ts';
import { type CliResult, testbed } from '../support/cli.ts';
import { stopTestStack, type TestStack, testStack } from '../support/local-stack.ts';

// Two physics periods of 3 STFs, 4 slices each: 6 STFs and 24 slices are due.
const STF_COUNT = 3;
const PERIODS = 2;
const SLICES_PER_STF = 4;
const workflow = [
  'run',
  'prompt_processing',
  '--no-realtime',
  '--stf-count',
  String(STF_COUNT),
  '--physics-period-count',
  String(PERIODS),
  '--workers',
  '2',
  '--set',
  `prompt_processing.slices_per_stf=${SLICES_PER_STF}`,
];

/** The page's one time style. */
const TIME_STYLE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/;
const SCREENSHOT = '/tmp/dashboard-readable-run.png';
const PLOTS_SCREENSHOT = '/tmp/dashboard-readable-plots.png';

interface Axis {
  label: string;
  ticks: number[];
}

/** The label and tick values of one axis of a plot, as the page shows them. */
async function axis(page: Page, plot: string, which: 'x' | 'y'): Promise<Axis> {
  const svg = page.getByTestId(plot);
  const label = (await svg.locator(`text.axis-label[data-axis="${which}"]`).textContent()) ?? '';
  const ticks = (await svg.locator(`g.ticks[data-axis="${which}"] text.tick`).allTextContents()).map(Number);
  return { label, ticks };
}

describe('the run page in headless Chromium, read by a person', () => {
  let stack: TestStack;
  let base: string;
  let browser: Browser;
  let run: CliResult;

  beforeAll(async () => {
    stack = await testStack('testbed-dashboard-readable-');
    base = `http://127.0.0.1:${stack.env.TESTBED_API_PORT}`;
    [run, browser] = await Promise.all([testbed(workflow, stack.env, 180_000), launchChromium()]);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await stopTestStack(stack);
  });

  it('labels both axes of each plot with units and round ticks, and shows the expected counts from the configuration', async () => {
    // Prepare
    expect(run.code, run.stderr).toBe(0);
    const runs = (await (await fetch(`${base}/api/runs`)).json()) as { items: { run_id: string }[] };
    const runId = runs.items[0]?.run_id as string;
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // Act
    await page.goto(`${base}/#/runs/${runId}`);
    await page.getByTestId('run-status').getByText('completed').waitFor({ timeout: 20_000 });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.locator('.plots').screenshot({ path: PLOTS_SCREENSHOT });
    const plots = {
      done: { x: await axis(page, 'done-plot', 'x'), y: await axis(page, 'done-plot', 'y') },
      delay: { x: await axis(page, 'delay-histogram', 'x'), y: await axis(page, 'delay-histogram', 'y') },
    };
    const cards = {
      stfsExpected: await page.getByTestId('stf-files-expected').textContent(),
      slicesExpected: await page.getByTestId('slices-expected').textContent(),
    };

    // Assess: labels with units, 4–6 round ticks from 0, evenly spaced.
    expect(pageErrors).toEqual([]);
    expect(plots.done.x.label).toBe('time since run start (s)');
    expect(plots.done.y.label).toBe('slices done');
    expect(plots.delay.x.label).toMatch(/^delay.*\(ms\)$/);
    expect(plots.delay.y.label).toBe('slices');
    for (const { ticks } of [plots.done.x, plots.done.y, plots.delay.x, plots.delay.y]) {
      expect(ticks.length).toBeGreaterThanOrEqual(4);
      expect(ticks.length).toBeLessThanOrEqual(6);
      expect(ticks[0]).toBe(0);
      const step = (ticks[1] as number) - (ticks[0] as number);
      expect(ticks.every((t, i) => Math.abs(t - i * step) < 1e-9)).toBe(true);
      expect(step / 10 ** Math.floor(Math.log10(step))).toBeOneOf([1, 2, 5]);
    }
    // The done plot's y axis reaches the slices done; its ticks are counts.
    expect(plots.done.y.ticks.at(-1)).toBeGreaterThanOrEqual(PERIODS * STF_COUNT * SLICES_PER_STF);
    expect(plots.done.y.ticks.every(Number.isInteger)).toBe(true);
    expect(cards).toEqual({
      stfsExpected: String(STF_COUNT * PERIODS),
      slicesExpected: String(STF_COUNT * PERIODS * SLICES_PER_STF),
    });
  });

  it('writes every time in one style with its zone, and no NaN or undefined anywhere', async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    /** The page's <time> texts, and its whole text. */
    const read = async () => ({
      times: await page.locator('time').allTextContents(),
      text: (await page.locator('body').textContent()) ?? '',
    });

    // Act: the front page (executions and runs), then the run's page.
    await page.goto(`${base}/`);
    const link = page.locator('a[href^="#/runs/"]').first();
    await link.waitFor({ timeout: 20_000 });
    const front = await read();
    await link.click();
    await page.getByTestId('run-status').getByText('completed').waitFor({ timeout: 20_000 });
    const runPage = await read();

    // Assess: the <time> elements (started, pilots, slices, messages, updated) are the only times shown.
    expect(front.times.length).toBeGreaterThan(2);
    expect(runPage.times.length).toBeGreaterThan(10);
    for (const { times, text } of [front, runPage]) {
      expect(times.filter((t) => !TIME_STYLE.test(t))).toEqual([]);
      const rest = times.reduce((left, t) => left.replace(t, ''), text);
      expect(rest.match(/\d{2}:\d{2}(:\d{2})?/g)).toBeNull();
      expect(text).not.toMatch(/NaN|undefined|null|\[object/);
    }
  });

  it('shows the fields that matter in the slices and messages tables, not JSON', async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    await page.goto(`${base}/`);
    await page.locator('a[href^="#/runs/"]').first().click();
    const messages = page.getByTestId('messages');
    await messages.locator('tbody tr').first().waitFor({ timeout: 20_000 });

    // Act
    const messageHeads = await messages.locator('th').allTextContents();
    const sliceHeads = await page.getByTestId('slices').locator('th').allTextContents();
    const resultRow = messages.locator('tbody tr', { hasText: 'slice_result' }).first();
    const resultCells = await resultRow.locator('td').allTextContents();
    const cellsText = (await messages.locator('td').allTextContents()).join('\n');

    // Assess
    expect(messageHeads).toEqual(['time', 'type', 'sender', 'file', 'slice', 'state', 'delay (ms)', 'error']);
    expect(sliceHeads).toEqual(
      expect.arrayContaining(['file', 'slice', 'state', 'processed', 'delay (ms)', 'error']),
    );
    const [, type, , file, slice, state, delay, error] = resultCells;
    expect({ type, state, error }).toEqual({ type: 'slice_result', state: 'done', error: '–' });
    expect(file).toMatch(/\.stf$/);
    expect(Number(slice)).toBeGreaterThanOrEqual(0);
    expect(Number(delay)).toBeGreaterThanOrEqual(0);
    expect(cellsText).not.toMatch(/[{}"]/);
  });

  it('shows a dash for every figure a run has no value for yet', async () => {
    // Prepare: a run the DAQ has not announced anything of, as the first message's handler leaves it.
    const client = localDynamoClient(Number(stack.env.TESTBED_DYNAMODB_PORT));
    await documents(client).send(
      new PutCommand({
        TableName: tableNames(stack.stackEnv).runs,
        Item: { run_id: '999001', created_at: new Date().toISOString().replace('Z', '000Z') },
      }),
    );
    client.destroy();
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });

    // Act
    await page.goto(`${base}/#/runs/999001`);
    await page.getByTestId('run-status').getByText('pending').waitFor({ timeout: 20_000 });
    const figures = await Promise.all(
      ['run-phase', 'run-duration', 'stf-files-expected', 'slices-expected', 'delay'].map((id) =>
        page.getByTestId(id).textContent(),
      ),
    );
    const text = (await page.locator('body').textContent()) ?? '';
    const doneTicks = await axis(page, 'done-plot', 'y');

    // Assess
    expect(figures).toEqual(['–', '–', '–', '–', '–']);
    expect(text).not.toMatch(/NaN|undefined|null/);
    expect(text).toContain('no slice done yet');
    expect(doneTicks.ticks.length).toBeGreaterThan(2);
  });
});
