import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '#local/state.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `testbed <args>` as a user would, in its own process. */
export async function testbed(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(projectRoot, 'bin', 'testbed.js'), ...args],
      {
        env: { ...process.env, ...env },
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `testbed run` arguments for a small run: 2 physics periods of 4 STFs, 2 pilots, no real-time pacing. */
export const smallRun = [
  'run',
  'prompt_processing',
  '--no-realtime',
  '--stf-count',
  '4',
  '--physics-period-count',
  '2',
  '--workers',
  '2',
] as const;
