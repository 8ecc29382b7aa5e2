// A user's program run on one slice: how it is called, how long it may take, what its exit means.
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';

/** What a payload made of one slice: its result, or why it failed. */
export type PayloadOutcome = { state: 'done'; result: unknown } | { state: 'failed'; error: string };

/** The slice as a payload command sees it. */
export interface CommandSlice {
  /** The STF to read: a local path (an s3:// STF's local copy), or a URL of a scheme we do not fetch. */
  readonly stf: string;
  /** The slice's `url` as it came, else where the STF was found. */
  readonly url: string;
  readonly runId: string;
  readonly sliceId: number;
  /** First and last TF of the slice, both inclusive as on the wire. */
  readonly start: number;
  readonly end: number;
  readonly filename: string;
  /** The slice message's whole content, for fields without a variable of their own. */
  readonly content: Readonly<Record<string, unknown>>;
}

export interface CommandSettings {
  /** The command line's words (commandWords): the program, then its arguments. */
  readonly words: readonly string[];
  /** Seconds before the command is killed and the slice failed. */
  readonly timeoutS: number;
  /** The run's folder `<outputDir>/<run_id>` is created and is the command's working directory. */
  readonly outputDir: string;
  /** What the command inherits, less the broker's settings. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** Stdout beyond this is cut, so a result stays far below the broker's and DynamoDB's item limits. */
export const MAX_RESULT_BYTES = 64 * 1024;
/** How much of stderr a failure reports, as upstream's wrapper does. */
export const STDERR_TAIL_CHARS = 500;
/** After SIGTERM on a timeout, how long the command has before SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** After the command exits, how long what it left running may hold its output open. */
const CLOSE_GRACE_MS = 1_000;

/** The pilot's own variables a payload has no use for: it processes data, it does not talk to the broker. */
const withheld = ['BROKER_URL', 'BROKER_CREDENTIALS_FILE', 'BROKER_SECRET_ARN', 'PILOT_PID_FILE'];

const placeholderNames = 'stf|url|start|end|slice_id|run_id|filename|output_dir';
const placeholder = new RegExp(`\\{(${placeholderNames})\\}`, 'g');
const anyPlaceholder = new RegExp(`\\{(${placeholderNames})\\}`);

/**
 * The argv after the program: its words with `{stf}`, `{start}`, ... replaced; a command that uses no
 * placeholder gets `<stf> <start> <end>` appended. Each word stays one argument whatever the values hold.
 */
export function commandArguments(words: readonly string[], slice: CommandSlice, outputDir: string): string[] {
  const values: Record<string, string> = {
    stf: slice.stf,
    url: slice.url,
    start: String(slice.start),
    end: String(slice.end),
    slice_id: String(slice.sliceId),
    run_id: slice.runId,
    filename: slice.filename,
    output_dir: outputDir,
  };
  const args = words.slice(1);
  if (!args.some((w) => anyPlaceholder.test(w)))
    return [...args, slice.stf, String(slice.start), String(slice.end)];
  return args.map((w) => w.replace(placeholder, (_, name: string) => values[name] as string));
}

/**
 * Runs the command once for the slice, without a shell, in its own process group: exit 0 is `done` with
 * stdout as the result (JSON when it parses, else text), anything else `failed` with the exit code or
 * signal and the tail of stderr. Past the timeout the group gets SIGTERM, then SIGKILL.
 */
export async function runPayloadCommand(cmd: CommandSettings, slice: CommandSlice): Promise<PayloadOutcome> {
  const [program, ...rest] = cmd.words;
  if (!program) return { state: 'failed', error: 'payload command is empty' };
  const outputDir = join(cmd.outputDir, slice.runId);
  try {
    await mkdir(outputDir, { recursive: true });
  } catch (error) {
    return { state: 'failed', error: `payload output folder ${outputDir}: ${(error as Error).message}` };
  }
  // The command runs in the output folder: a relative program path still means the pilot's folder.
  const file = program.includes('/') && !isAbsolute(program) ? resolve(program) : program;
  const env: NodeJS.ProcessEnv = { ...(cmd.env ?? process.env) };
  for (const name of withheld) delete env[name];
  Object.assign(env, {
    SLICE_STF: slice.stf,
    SLICE_URL: slice.url,
    SLICE_START: String(slice.start),
    SLICE_END: String(slice.end),
    SLICE_ID: String(slice.sliceId),
    SLICE_FILENAME: slice.filename,
    SLICE_OUTPUT_DIR: outputDir,
    SLICE_JSON: JSON.stringify(slice.content),
    RUN_ID: slice.runId,
  });
  const args = commandArguments([program, ...rest], slice, outputDir);
  return new Promise((settle) => {
    const child = spawn(file, args, {
      cwd: outputDir,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stdoutTotal = 0;
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    const cutLoose = () => {
      killGroup('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const done = (outcome: PayloadOutcome) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      settle(outcome);
    };
    child.stdout.on('data', (b: Buffer) => {
      stdoutTotal += b.length;
      if (stdoutBytes >= MAX_RESULT_BYTES) return;
      const kept = b.subarray(0, MAX_RESULT_BYTES - stdoutBytes);
      stdout.push(kept);
      stdoutBytes += kept.length;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-4 * STDERR_TAIL_CHARS);
    });
    timers.push(
      setTimeout(() => {
        timedOut = true;
        killGroup('SIGTERM');
        timers.push(setTimeout(cutLoose, KILL_GRACE_MS));
      }, cmd.timeoutS * 1000),
    );
    child.on('exit', () => {
      // Whatever it started and left holding its output is not waited for long.
      timers.push(setTimeout(cutLoose, timedOut ? 0 : CLOSE_GRACE_MS));
    });
    child.on('error', (error) => done({ state: 'failed', error: `payload ${program}: ${error.message}` }));
    child.on('close', (code, signal) => {
      const tail = stderr.trimEnd().slice(-STDERR_TAIL_CHARS);
      const withTail = (what: string) => (tail ? `${what}: ${tail}` : `${what} (no stderr)`);
      if (timedOut)
        done({ state: 'failed', error: withTail(`payload ${program} timed out after ${cmd.timeoutS} s`) });
      else if (code === 0) done({ state: 'done', result: resultOf(Buffer.concat(stdout), stdoutTotal) });
      else if (code !== null)
        done({ state: 'failed', error: withTail(`payload ${program} exited with code ${code}`) });
      else done({ state: 'failed', error: withTail(`payload ${program} killed by ${signal}`) });
    });
  });
}

/** Stdout as a result: its JSON value when it is JSON, else its text, cut at MAX_RESULT_BYTES. */
function resultOf(bytes: Buffer, total: number): unknown {
  const text = bytes.toString('utf8').trimEnd();
  if (total > bytes.length) return `${text}… [output cut at ${MAX_RESULT_BYTES} of ${total} bytes]`;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
