import {
  DescribeTasksCommand,
  type ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { describe, expect, it, test } from 'vitest';
import type { PilotSpec } from '#domain/pilot-launcher-port.ts';
import { ecsPilotLauncher, ecsPilotLauncherFromEnv, fargateSize, startedByOf } from '#ecs/pilot-launcher.ts';

/** An ECS that records what it is asked and holds tasks by `startedBy`. */
function fakeEcs(o: { failures?: { reason: string }[] } = {}) {
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const tasks: (Task & { startedBy: string })[] = [];
  const send = async (command: { input: Record<string, unknown>; constructor: { name: string } }) => {
    calls.push({ name: command.constructor.name, input: command.input });
    if (command instanceof RunTaskCommand) {
      if (o.failures) return { tasks: [], failures: o.failures };
      const task = {
        taskArn: `arn:task/${tasks.length + 1}`,
        startedBy: command.input.startedBy as string,
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        createdAt: new Date(Date.UTC(2025, 0, 1, 0, tasks.length)),
        overrides: command.input.overrides as Task['overrides'],
      };
      tasks.push(task);
      return { tasks: [task], failures: [] };
    }
    if (command instanceof ListTasksCommand) {
      const { startedBy, desiredStatus } = command.input as { startedBy: string; desiredStatus: string };
      return {
        taskArns: tasks
          .filter((t) => t.startedBy === startedBy && t.desiredStatus === desiredStatus)
          .map((t) => t.taskArn),
      };
    }
    if (command instanceof DescribeTasksCommand) {
      const arns = command.input.tasks as string[];
      return { tasks: tasks.filter((t) => arns.includes(t.taskArn as string)) };
    }
    if (command instanceof StopTaskCommand) {
      const task = tasks.find((t) => t.taskArn === command.input.task);
      if (task) Object.assign(task, { desiredStatus: 'STOPPED', lastStatus: 'DEACTIVATING' });
      return { task };
    }
    throw new Error(`unexpected ${command.constructor.name}`);
  };
  return { calls, tasks, client: { send } as unknown as Pick<ECSClient, 'send'> };
}

const options = (client: Pick<ECSClient, 'send'>) => ({
  cluster: 'arn:cluster/pilots',
  taskDefinition: 'arn:task-definition/transformer:3',
  subnets: ['subnet-a', 'subnet-b'],
  securityGroups: ['sg-pilots'],
  containerName: 'transformer',
  client,
});

const spec: PilotSpec = {
  runId: '100012',
  pilotId: '100012-p01',
  taskId: 1000003,
  namespace: 'ns1',
  env: { SLICE_PROCESSING_TIME: '0', HEARTBEAT_INTERVAL: '5', IDLE_TIMEOUT: '60', PILOT_ATTEMPT: '2' },
  resources: { cores: 1, ramPerCoreMb: 2000 },
};

describe('Function: ecsPilotLauncher', () => {
  describe('Method: start', () => {
    it('runs one Fargate task with the pilot settings as container overrides, tagged with run and pilot', async () => {
      // Prepare
      const ecs = fakeEcs();
      const launcher = ecsPilotLauncher(options(ecs.client));

      // Act
      await launcher.start(spec);

      // Assess
      const run = ecs.calls.find((c) => c.name === 'RunTaskCommand')?.input;
      expect(run).toMatchObject({
        cluster: 'arn:cluster/pilots',
        taskDefinition: 'arn:task-definition/transformer:3',
        launchType: 'FARGATE',
        startedBy: '100012-p01',
        clientToken: '100012-p01.2',
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: ['subnet-a', 'subnet-b'],
            securityGroups: ['sg-pilots'],
            assignPublicIp: 'DISABLED',
          },
        },
        overrides: { cpu: '1024', memory: '2048' },
        tags: [
          { key: 'run_id', value: '100012' },
          { key: 'pilot_id', value: '100012-p01' },
        ],
      });
      const overrides = run?.overrides as {
        containerOverrides: { name: string; environment: { name: string; value: string }[] }[];
      };
      const env = overrides.containerOverrides[0];
      expect(env?.name).toBe('transformer');
      expect(Object.fromEntries(env?.environment.map((e) => [e.name, e.value]) ?? [])).toEqual({
        RUN_ID: '100012',
        PILOT_ID: '100012-p01',
        TASK_ID: '1000003',
        NAMESPACE: 'ns1',
        SLICE_PROCESSING_TIME: '0',
        HEARTBEAT_INTERVAL: '5',
        IDLE_TIMEOUT: '60',
        PILOT_ATTEMPT: '2',
      });
    });

    it('starts no second task for a pilot whose task still runs', async () => {
      // Prepare
      const ecs = fakeEcs();
      const launcher = ecsPilotLauncher(options(ecs.client));
      await launcher.start(spec);

      // Act
      await launcher.start(spec);

      // Assess
      expect(ecs.calls.filter((c) => c.name === 'RunTaskCommand')).toHaveLength(1);
    });

    it('says why ECS refused to start a pilot', async () => {
      // Prepare
      const ecs = fakeEcs({ failures: [{ reason: 'RESOURCE:ENI' }] });
      const launcher = ecsPilotLauncher(options(ecs.client));

      // Act
      const start = launcher.start(spec);

      // Assess
      await expect(start).rejects.toThrow('ECS did not start pilot 100012-p01: RESOURCE:ENI');
    });
  });

  describe('Method: stop', () => {
    it('asks the pilot task to stop and counts it alive while it drains', async () => {
      // Prepare
      const ecs = fakeEcs();
      const launcher = ecsPilotLauncher(options(ecs.client));
      await launcher.start(spec);

      // Act
      await launcher.stop(spec.runId, spec.pilotId);
      await launcher.stop(spec.runId, spec.pilotId);

      // Assess
      expect(ecs.calls.filter((c) => c.name === 'StopTaskCommand')).toHaveLength(1);
      expect(await launcher.isAlive(spec.runId, spec.pilotId)).toBe(true);
      (ecs.tasks[0] as Task).lastStatus = 'STOPPED';
      expect(await launcher.isAlive(spec.runId, spec.pilotId)).toBe(false);
    });
  });
});

describe('Function: ecsPilotLauncher, method: status', () => {
  /** The pilot's task as ECS describes it once stopped: its container's exit code and ECS's reasons. */
  const stopped = (task: Task, exitCode: number | undefined, stoppedReason: string) =>
    Object.assign(task, {
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      stoppedReason,
      containers: [{ name: 'transformer', ...(exitCode !== undefined && { exitCode }) }],
    });

  it('says a task whose transformer exited 0 ended normally, with ECS stopped reason', async () => {
    // Prepare
    const ecs = fakeEcs();
    const launcher = ecsPilotLauncher(options(ecs.client));
    await launcher.start(spec);
    const running = await launcher.status?.(spec.runId, spec.pilotId, 2);
    stopped(ecs.tasks[0] as Task, 0, 'Essential container in task exited');

    // Act
    const status = await launcher.status?.(spec.runId, spec.pilotId, 2);

    // Assess
    expect(running).toEqual({ state: 'running' });
    expect(status).toEqual({ state: 'exited', code: 0, reason: 'Essential container in task exited' });
  });

  it('says a task killed at the end of its stop timeout (exit 137) or never started failed', async () => {
    // Prepare
    const ecs = fakeEcs();
    const launcher = ecsPilotLauncher(options(ecs.client));
    await launcher.start(spec);
    stopped(ecs.tasks[0] as Task, 137, 'Task stopped by user');
    const other = { ...spec, pilotId: '100012-p02' };
    await launcher.start(other);
    stopped(ecs.tasks[1] as Task, undefined, 'CannotPullContainerError: pull access denied');

    // Act
    const killed = await launcher.status?.(spec.runId, spec.pilotId, 2);
    const neverStarted = await launcher.status?.(other.runId, other.pilotId, 2);

    // Assess
    expect(killed).toEqual({ state: 'failed', code: 137, signal: 'SIGKILL', reason: 'Task stopped by user' });
    expect(neverStarted).toEqual({ state: 'failed', reason: 'CannotPullContainerError: pull access denied' });
  });

  it('judges the attempt asked about, not an earlier one, and knows nothing of a pilot ECS no longer lists', async () => {
    // Prepare
    const ecs = fakeEcs();
    const launcher = ecsPilotLauncher(options(ecs.client));
    await launcher.start({ ...spec, env: { ...spec.env, PILOT_ATTEMPT: '1' } });
    stopped(ecs.tasks[0] as Task, 0, 'Essential container in task exited');
    await launcher.start(spec);
    stopped(ecs.tasks[1] as Task, 1, 'Essential container in task exited');

    // Act
    const first = await launcher.status?.(spec.runId, spec.pilotId, 1);
    const second = await launcher.status?.(spec.runId, spec.pilotId, 2);
    const third = await launcher.status?.(spec.runId, spec.pilotId, 3);
    const latest = await launcher.status?.(spec.runId, spec.pilotId);
    const unlisted = await launcher.status?.(spec.runId, '100012-p09');

    // Assess
    expect(first).toMatchObject({ state: 'exited', code: 0 });
    expect(second).toMatchObject({ state: 'failed', code: 1 });
    expect(third).toEqual({ state: 'unknown' });
    expect(latest).toMatchObject({ state: 'failed', code: 1 });
    expect(unlisted).toEqual({ state: 'unknown' });
  });
});

describe('Function: fargateSize', () => {
  test.each([
    [
      { cores: 1, ramPerCoreMb: 2000 },
      { cpu: 1024, memory: 2048 },
    ],
    [
      { cores: 2, ramPerCoreMb: 4000 },
      { cpu: 2048, memory: 8192 },
    ],
    [
      { cores: 0.25, ramPerCoreMb: 1000 },
      { cpu: 256, memory: 512 },
    ],
    [
      { cores: 1, ramPerCoreMb: 16000 },
      { cpu: 2048, memory: 16384 },
    ],
    [
      { cores: 64, ramPerCoreMb: 4000 },
      { cpu: 16384, memory: 122880 },
    ],
  ])('gives %j the smallest Fargate size that holds it: %j', (resources, size) => {
    // Prepare
    const asked = resources;

    // Act
    const given = fargateSize(asked);

    // Assess
    expect(given).toEqual(size);
  });
});

describe('Function: ecsPilotLauncherFromEnv', () => {
  it('is off without PILOT_CLUSTER and says what is missing with it', () => {
    // Prepare
    const partial = { PILOT_CLUSTER: 'c', PILOT_TASK_DEFINITION: 'td' };

    // Act
    const off = ecsPilotLauncherFromEnv({});
    const build = () => ecsPilotLauncherFromEnv(partial);

    // Assess
    expect(off).toBeUndefined();
    expect(build).toThrow('PILOT_CLUSTER is set but PILOT_SUBNETS is not: the ECS launcher needs both');
    expect(startedByOf('run.1 p#2')).toBe('run_1_p_2');
  });
});
