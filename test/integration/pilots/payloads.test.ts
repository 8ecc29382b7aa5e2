import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import type { Message } from '#contract/messages.ts';
import { STDERR_TAIL_CHARS } from '#domain/payload-command.ts';
import { startTransformer, type Transformer } from '#domain/transformer.ts';
import type { TransformerConfig } from '#domain/transformer-config.ts';
import { isAlive } from '#local/processes.ts';
import { destinations } from '#routes/destinations.ts';
import { analyseSlice } from '#stf/analysis.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { type Capture, capture } from '../../support/capture.ts';
import { testDir } from '../../support/temp.ts';
import { eventually, memoryLogger, ofType, publishSlices, sliceMessages, writeStf } from './support.ts';

const namespace = 'payloads-test';
const countHits = fileURLToPath(
  new URL('../../../functions/transformer/payloads/count-hits.mjs', import.meta.url),
);

/** The slices with more content, as stf_ready (file_type) or an upstream requester (req_id) adds it. */
const withContent = (slices: Message<'slice'>[], extra: Record<string, unknown>): Message<'slice'>[] =>
  slices.map((s) => ({ ...s, content: { ...s.content, ...extra } }) as Message<'slice'>);

describe('Payloads a transformer runs on slices', () => {
  let broker: TestBroker;
  let client: BrokerPort;
  let store: string;
  let output: string;
  const running: { transformer: Transformer; broker: BrokerPort }[] = [];
  let nextRun = 950001;

  async function transformer(runId: string, o: Partial<TransformerConfig> = {}) {
    const own = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    const t = await startTransformer(
      {
        runId,
        pilotId: `${runId}-p01`,
        namespace,
        stfStore: store,
        heartbeatInterval: 60,
        payloadOutputDir: output,
        ...o,
      },
      { broker: own, log: memoryLogger() },
    );
    running.push({ transformer: t, broker: own });
    return t;
  }

  /** The slice_results of a run, by slice id, once all `count` have arrived. */
  async function resultsOf(seen: Capture, count: number) {
    await eventually(`${count} slice_result`, () => ofType(seen.messages, 'slice_result').length >= count);
    return ofType(seen.messages, 'slice_result').sort(
      (a, b) => Number(a.content.slice_id) - Number(b.content.slice_id),
    );
  }

  const results = (runId: string): Promise<Capture> =>
    capture(client, destinations.results, `run_id = '${runId}'`);

  beforeAll(async () => {
    broker = await startTestBroker();
    client = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
    store = testDir('payloads-stf-');
    output = testDir('payloads-output-');
  });
  afterEach(async () => {
    for (const r of running.splice(0)) {
      await r.transformer.stop('test over').catch(() => {});
      await r.broker.close();
    }
  });
  afterAll(async () => {
    await client?.close();
    await broker?.stop();
    rmSync(store, { recursive: true, force: true });
    rmSync(output, { recursive: true, force: true });
  });

  it("runs the command once per slice and reports its JSON output as the slice's result", async () => {
    // Prepare
    const runId = String(nextRun++);
    const stf = writeStf(store, runId);
    const slices = withContent(sliceMessages(stf, { namespace, slices: 3 }), {
      file_type: 'stf',
      req_id: 'req-42',
    });
    const seen = await results(runId);
    await transformer(runId, { payloadCommand: countHits });
    // Act
    await publishSlices(client, slices);
    const got = await resultsOf(seen, slices.length);
    // Assess
    for (const [i, slice] of slices.entries()) {
      const c = got[i]?.content as Record<string, unknown>;
      const { start, end, slice_id } = slice.content;
      const analysis = analyseSlice(stf.data, { start, end: end + 1 });
      const outputFile = join(output, runId, `swf.${runId}.000001.slice${slice_id}.json`);
      expect(c).toMatchObject({
        state: 'done',
        filename: stf.filename,
        slice_id,
        start,
        end,
        req_id: 'req-42',
      });
      expect(c.result).toMatchObject({
        payload: 'count-hits',
        tfs: end - start + 1,
        hits: analysis.hits,
        output_file: outputFile,
      });
      expect((c.result as { energy_sum_mev: number }).energy_sum_mev).toBeCloseTo(analysis.energySumMeV, 1);
      expect(JSON.parse(readFileSync(outputFile, 'utf8'))).toMatchObject({ hits: analysis.hits });
    }
    await seen.stop();
  });

  it('reports plain text output as text, with the slice in the placeholders of the command', async () => {
    // Prepare
    const runId = String(nextRun++);
    const stf = writeStf(store, runId);
    const slices = sliceMessages(stf, { namespace, slices: 2 });
    const seen = await results(runId);
    await transformer(runId, {
      payloadCommand:
        'printf "slice %s: TFs %s to %s of %s in %s\\n" {slice_id} {start} {end} {filename} {output_dir}',
    });
    // Act
    await publishSlices(client, slices);
    const got = await resultsOf(seen, slices.length);
    // Assess
    expect(got.map((r) => r.content.result)).toEqual(
      slices.map(
        (s) =>
          `slice ${s.content.slice_id}: TFs ${s.content.start} to ${s.content.end} of ${stf.filename} in ${join(output, runId)}`,
      ),
    );
    expect(got.every((r) => r.content.state === 'done')).toBe(true);
    await seen.stop();
  });

  it('fails a slice whose command exits non-zero, with the exit code and the tail of its stderr', async () => {
    // Prepare
    const runId = String(nextRun++);
    const slices = sliceMessages(writeStf(store, runId), { namespace, slices: 1 });
    const seen = await results(runId);
    const t = await transformer(runId, {
      payloadCommand: `sh -c 'head -c 2000 /dev/zero | tr "\\\\0" x >&2; echo "reco failed on $SLICE_FILENAME" >&2; exit 3'`,
    });
    // Act
    await publishSlices(client, slices);
    const [result] = await resultsOf(seen, 1);
    // Assess
    const error = String(result?.content.error);
    expect(result?.content.state).toBe('failed');
    expect(result?.content.result).toBeUndefined();
    expect(error).toMatch(
      new RegExp(`^payload sh exited with code 3: x+reco failed on swf\\.${runId}\\.000001\\.stf$`),
    );
    expect(error.length).toBeLessThanOrEqual('payload sh exited with code 3: '.length + STDERR_TAIL_CHARS);
    expect(t.stats).toEqual({ slicesDone: 0, slicesFailed: 1 });
    await seen.stop();
  });

  it('kills a command that outlives its timeout, with what it started, and fails the slice', async () => {
    // Prepare
    const runId = String(nextRun++);
    const slices = sliceMessages(writeStf(store, runId), { namespace, slices: 1 });
    const seen = await results(runId);
    await transformer(runId, {
      payloadCommand: `sh -c 'sleep 60 & echo $! > "$SLICE_OUTPUT_DIR/sleeper.pid"; wait'`,
      payloadTimeout: 0.5,
    });
    // Act
    await publishSlices(client, slices);
    const [result] = await resultsOf(seen, 1);
    // Assess
    expect(result?.content).toMatchObject({ state: 'failed' });
    expect(result?.content.error).toMatch(/^payload sh timed out after 0\.5 s/);
    const sleeper = Number(readFileSync(join(output, runId, 'sleeper.pid'), 'utf8'));
    await eventually('the sleeping child gone', () => !isAlive(sleeper));
    await seen.stop();
  });

  it('waits slice_processing_time on fake and mock slices, reading nothing and running no command', async () => {
    // Prepare
    const runId = String(nextRun++);
    const stf = writeStf(store, runId);
    const missing = join(store, 'no-such-file.stf');
    const [fake, mock] = sliceMessages(stf, { namespace, slices: 2, url: missing, sliceProcessingTime: 0.2 });
    const slices = [
      ...withContent([fake as Message<'slice'>], { file_type: 'fake' }),
      ...withContent([mock as Message<'slice'>], { file_type: 'mock', slice_processing_time: undefined }),
    ];
    const seen = await results(runId);
    await transformer(runId, {
      stfStore: undefined,
      sliceProcessingTime: 0.1,
      payloadCommand: `sh -c 'touch "$SLICE_OUTPUT_DIR/ran"; exit 1'`,
    });
    // Act
    await publishSlices(client, slices);
    const got = await resultsOf(seen, 2);
    // Assess
    expect(got.map((r) => r.content.state)).toEqual(['done', 'done']);
    expect(got.map((r) => r.content.result)).toEqual([
      { file_type: 'fake', processed: true, actual_processing_time: expect.any(Number) },
      { file_type: 'mock', processed: true, actual_processing_time: expect.any(Number) },
    ]);
    expect(existsSync(missing)).toBe(false);
    expect(existsSync(join(output, runId))).toBe(false);
    await seen.stop();
  });

  it('fails every slice with the reason when the command line cannot be read', async () => {
    // Prepare
    const runId = String(nextRun++);
    const slices = sliceMessages(writeStf(store, runId), { namespace, slices: 2 });
    const seen = await results(runId);
    await transformer(runId, { payloadCommand: `sh -c 'echo unclosed` });
    // Act
    await publishSlices(client, slices);
    const got = await resultsOf(seen, 2);
    // Assess
    expect(got.map((r) => r.content.error)).toEqual([
      `payload command: unterminated single quote in command "sh -c 'echo unclosed"`,
      `payload command: unterminated single quote in command "sh -c 'echo unclosed"`,
    ]);
    await seen.stop();
  });
});
