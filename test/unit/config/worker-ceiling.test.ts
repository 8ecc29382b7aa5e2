import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWorkflow } from '#config/workflow.ts';
import { MAX_WORKERS_PER_RUN } from '#config/workflow-schema.ts';
import { testDir } from '../../support/temp.ts';

const dir = testDir('swf-worker-ceiling-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// An empty env keeps a developer's own SWF_TESTBED_CONFIG out of the tests.
const noEnv = { env: {} };
const over = MAX_WORKERS_PER_RUN + 1;
const expected = `must be an integer from 0 to ${MAX_WORKERS_PER_RUN}, the ceiling of pilots per run (got ${over})`;

describe('The ceiling of pilots per run, in the workflow configuration', () => {
  it('refuses a target_worker_count above it, naming the file and the key', () => {
    // Prepare
    const file = path.join(dir, 'many.toml');
    fs.writeFileSync(
      file,
      `[testbed]\nnamespace = "ns"\n[prompt_processing]\ntarget_worker_count = ${over}\n`,
    );

    // Act
    const load = () => loadWorkflow(file, noEnv);

    // Assess
    expect(load).toThrow(`${file}: prompt_processing.target_worker_count ${expected}`);
  });

  it('refuses --workers above it as the command line setting the key', () => {
    // Prepare
    const overrides = { 'prompt_processing.target_worker_count': over };

    // Act
    const load = () => loadWorkflow('prompt_processing', { ...noEnv, overrides });

    // Assess
    expect(load).toThrow(`command line: prompt_processing.target_worker_count ${expected}`);
  });

  it('takes the ceiling itself', () => {
    // Prepare
    const overrides = { 'prompt_processing.target_worker_count': MAX_WORKERS_PER_RUN };

    // Act
    const config = loadWorkflow('prompt_processing', { ...noEnv, overrides });

    // Assess
    expect(config.promptProcessing.target_worker_count).toBe(MAX_WORKERS_PER_RUN);
  });
});
