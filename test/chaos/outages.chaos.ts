import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '#local/processes.ts';
import { type RunRecords, readRun } from '#query/run-report.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { documents } from '#tables/documents.ts';
import { testbed } from '../support/cli.ts';
import {
  brokerPidOf,
  type CliProcess,
  eventually,
  isRunning,
  pidIn,
  spawnTestbed,
  stopTestStack,
  type TestStack,
  testStack,
} from '../support/local-stack.ts';

// `npm run test:chaos` (vitest.chaos.config.ts) runs this file; its name keeps `npm test` from running
// it too (vitest.config.ts takes *.test.ts): the outages last minutes of wall time.

type Part = 'dynalite' | 'runner' | 'api' | 'broker' | 'stf-store';

interface Outage {
  readonly part: Part;
  readonly seconds: number;
}

/** Every outage the README's Guarantees name, the short ones first, one at a time on one stack. */
const outages: readonly Outage[] = [
  { part: 'dynalite', seconds: 20 },
  { part: 'runner', seconds: 20 },
  { part: 'api', seconds: 20 },
  { part: 'broker', seconds: 20 },
  { part: 'stf-store', seconds: 20 },
  { part: 'dynalite', seconds: 120 },
  { part: 'runner', seconds: 120 },
  { part: 'api', seconds: 120 },
  { part: 'broker', seconds: 120 },
];

const stfs = 20;
const slicesPerStf = 5;
const slices = stfs * slicesPerStf;
/** Results recorded before the part is killed: the run is under way. */
const underWay = 10;

/** Parts whose outage does not stop the pilots: their run's slices last through it, two pilots at work. */
const runsOn = (part: Part) => part === 'api' || part === 'stf-store';

/**
 * Seconds a slice takes: for an outage the run goes on through, enough that its 100 slices outlast the
 * outage; for one that stops the run, short.
 */
const sliceSeconds = (o: Outage): number => (runsOn(o.part) ? ((o.seconds + 15) * 2) / slices : 0.2);

const pidFileOf = (dir: string, part: Exclude<Part, 'stf-store'>) => join(dir, 'run', `${part}.pid`);

let s: TestStack;

beforeAll(async () => {
  s = await testStack('testbed-chaos-outages-');
  const up = await testbed(['up'], s.env, 300_000);
  if (up.code !== 0) throw new Error(`testbed up failed: ${up.stderr}`);
}, 330_000);

afterAll(async () => {
  await stopTestStack(s);
});

/** The run of a namespace, once its run_imminent is recorded (each case has a namespace of its own). */
async function runOf(namespace: string): Promise<string | undefined> {
  try {
    const { Items } = await documents(dynamoClient(s.stackEnv)).send(
      new ScanCommand({
        TableName: tableNames(s.stackEnv).runs,
        FilterExpression: '#ns = :ns',
        ExpressionAttributeNames: { '#ns': 'namespace' },
        ExpressionAttributeValues: { ':ns': namespace },
        ConsistentRead: true,
      }),
    );
    return Items?.[0]?.run_id === undefined ? undefined : String(Items[0].run_id);
  } catch {
    return undefined;
  }
}

const recordedCount = async (runId: string): Promise<number> => {
  try {
    return (await readRun(dynamoClient(s.stackEnv), tableNames(s.stackEnv), runId)).slices.length;
  } catch {
    return 0;
  }
};

/** The supervisor `testbed up` started: what restarts a part of the stack that died. */
const supervisorPid = (): number | undefined => pidIn(join(s.stack.stateDir, 'run', 'supervisor.pid'));

/**
 * Takes a part away for `seconds` and lets it come back as the stack brings it back, no command typed: the
 * part's process is killed with SIGKILL while the supervisor is held (SIGSTOP), so it stays down that long;
 * released (SIGCONT), the supervisor finds it dead and starts it again. The STF store is the run's folder
 * moved aside and back (root reads any file whatever its mode, so a chmod would not keep it out).
 * Returns how the part came back.
 */
async function outage(o: Outage, runId: string): Promise<string> {
  const dir = s.stack.stateDir;
  const wait = () => new Promise((r) => setTimeout(r, o.seconds * 1000));
  if (o.part === 'stf-store') {
    const folder = join(s.stackEnv.STF_STORE as string, `swf.${runId}.run`);
    // Every STF written first: the DAQ simulator would make the folder again.
    await eventually('every STF of the run written', () =>
      existsSync(folder) ? readdirSync(folder).length >= stfs : false,
    );
    renameSync(folder, `${folder}.away`);
    await wait();
    renameSync(`${folder}.away`, folder);
    return 'moved back';
  }
  const supervisor = supervisorPid();
  if (supervisor === undefined) throw new Error('no supervisor runs: testbed up did not start one');
  const pid = o.part === 'broker' ? brokerPidOf(dir) : pidIn(pidFileOf(dir, o.part));
  if (pid === undefined) throw new Error(`${o.part} does not run`);
  process.kill(supervisor, 'SIGSTOP');
  try {
    process.kill(pid, 'SIGKILL');
    await eventually(`${o.part} gone`, () => gone(pid), 10_000);
    await wait();
  } finally {
    process.kill(supervisor, 'SIGCONT');
  }
  return 'restarted by the supervisor';
}

/** Dead: no such process, or a zombie its held supervisor has not reaped yet (its ports are closed). */
function gone(pid: number): boolean {
  if (!isAlive(pid)) return true;
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ''));
  } catch {
    return true;
  }
}

/** What the stack's logs say about a run that did not complete: read in the test's output, the folder is gone. */
function diagnosis(runId: string): string {
  const logs = join(s.stack.stateDir, 'logs');
  const tail = (file: string, n: number, keep: (line: string) => boolean = () => true): string[] =>
    existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(keep).slice(-n) : [];
  const notInfo = (l: string) => l !== '' && !/"level":"info"/i.test(l);
  const pilots = existsSync(join(logs, 'pilots'))
    ? readdirSync(join(logs, 'pilots')).filter((f) => f.startsWith(`${runId}-`))
    : [];
  return [
    '--- runner.log (not info) ---',
    ...tail(join(logs, 'runner.log'), 60, notInfo),
    ...pilots.flatMap((f) => [`--- pilots/${f} ---`, ...tail(join(logs, 'pilots', f), 15)]),
    '--- activemq.log ---',
    ...tail(join(logs, 'activemq.log'), 20),
  ].join('\n');
}

const jcmd = (): string => (existsSync('/usr/bin/jcmd') ? '/usr/bin/jcmd' : 'jcmd');

for (const o of outages)
  describe(`A run whose ${o.part} is away for ${o.seconds} s`, () => {
    const namespace = `outage-${o.part}-${o.seconds}`;
    let cli: CliProcess;
    let exit: { code: number; stdout: string; stderr: string };
    let records: RunRecords;
    let runId: string;
    let parked: unknown[];
    let threads: string;
    const t = { down: 0, back: 0, done: 0 };
    let how = '';

    beforeAll(
      async () => {
        // Prepare: a run of its own namespace; pilots that wait out any outage rather than idle out.
        const set = [
          `prompt_processing.slices_per_stf=${slicesPerStf}`,
          `prompt_processing.slice_processing_time=${sliceSeconds(o)}`,
          'prompt_processing.transformer_idle_timeout=600',
        ].flatMap((kv) => ['--set', kv]);
        cli = spawnTestbed(
          [
            'run',
            'prompt_processing',
            '--no-realtime',
            '--stf-count',
            String(stfs),
            '--physics-period-count',
            '1',
            '--workers',
            '2',
            '--namespace',
            namespace,
            '--drain-timeout',
            '900',
            ...set,
          ],
          s.env,
        );
        runId = await eventually('the run opened', () => runOf(namespace), 120_000, 250);
        await eventually(
          `${underWay} results recorded`,
          async () => (await recordedCount(runId)) >= underWay,
          120_000,
          100,
        );

        // Act: no command typed after the outage; the CLI follows the run to its end.
        t.down = Date.now();
        how = await outage(o, runId);
        t.back = Date.now();
        exit = await cli.done;
        t.done = Date.now();

        // Assess (gathered): the records, the dead-letter queues, the broker's threads.
        records = await readRun(dynamoClient(s.stackEnv), tableNames(s.stackEnv), runId);
        const dlq = await testbed(['dlq', 'list', '--run', runId, '--json'], s.env);
        if (dlq.code !== 0) throw new Error(`testbed dlq list failed: ${dlq.stderr}`);
        parked = (JSON.parse(dlq.stdout) as { items: unknown[] }).items;
        const broker = brokerPidOf(s.stack.stateDir);
        threads = broker
          ? (await promisify(execFile)(jcmd(), [String(broker), 'Thread.print'], { maxBuffer: 64 << 20 }))
              .stdout
          : '';
        const by = (state: string) => records.slices.filter((x) => x.state === state).length;
        if (exit.code !== 0) console.log(diagnosis(runId));
        console.log(
          `outage ${o.part} ${o.seconds} s (${how}): run ${runId} completed ${((t.done - t.back) / 1000).toFixed(0)} s ` +
            `after the part was back; slices ${by('done')} done, ${by('failed')} failed; CLI exit ${exit.code}`,
        );
      },
      (o.seconds + 600) * 1000,
    );

    afterAll(() => {
      if (cli && isRunning(cli.child)) cli.child.kill('SIGKILL');
    });

    it('completes, and the testbed run that followed it exits 0', () => {
      // Assess
      expect(exit.code, exit.stderr).toBe(0);
      expect(exit.stdout).toContain(`Run ${runId} Summary: completed`);
      expect(records.run).toMatchObject({ completion: 'completed', total_stf_files: stfs });
    });

    it('records exactly one result for every slice', () => {
      // Prepare
      const expected = records.stfs.flatMap((f) =>
        Array.from(
          { length: Number(f.slice_count) },
          (_, i) => `${f.filename}#${String(i).padStart(4, '0')}`,
        ),
      );

      // Act
      const recorded = records.slices.map((x) => String(x.slice_key));

      // Assess
      expect(expected).toHaveLength(slices);
      expect(recorded.sort()).toEqual(expected.sort());
      // A slice whose STF could not be read while the store was away is a failed result, not a lost one.
      if (o.part !== 'stf-store') expect(records.slices.filter((x) => x.state !== 'done')).toEqual([]);
    });

    it('leaves no message of the run in a dead-letter queue', () => {
      // Assess
      expect(parked).toEqual([]);
    });

    it('leaves the broker without a Java-level deadlock', () => {
      // Assess
      expect(threads).toContain('Full thread dump');
      expect(threads).not.toContain('Found one Java-level deadlock');
    });
  });
