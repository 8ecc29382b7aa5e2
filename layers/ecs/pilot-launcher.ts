import {
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import type { PilotLauncher, PilotSpec, PilotStatus } from '#domain/pilot-launcher-port.ts';

export interface EcsPilotLauncherOptions {
  /** Cluster name or ARN. */
  readonly cluster: string;
  /** Task definition ARN (or family[:revision]) of the transformer. */
  readonly taskDefinition: string;
  /** Private subnets the tasks get their network interface in. */
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  /** The transformer container's name in the task definition: the overrides address it. */
  readonly containerName: string;
  /** @default a client for the region of the environment */
  readonly client?: Pick<ECSClient, 'send'>;
}

/** Fargate's task sizes: CPU units and the memory (MiB) each allows. */
const fargateSizes: readonly { cpu: number; memory: readonly number[] }[] = [
  { cpu: 256, memory: [512, 1024, 2048] },
  { cpu: 512, memory: range(1024, 4096, 1024) },
  { cpu: 1024, memory: range(2048, 8192, 1024) },
  { cpu: 2048, memory: range(4096, 16384, 1024) },
  { cpu: 4096, memory: range(8192, 30720, 1024) },
  { cpu: 8192, memory: range(16384, 61440, 4096) },
  { cpu: 16384, memory: range(32768, 122880, 8192) },
];

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/**
 * The smallest Fargate size with at least the cores and the memory (cores × RAM per core) a pilot asks for;
 * the largest size when it asks for more than Fargate has.
 */
export function fargateSize(resources: PilotSpec['resources']): { cpu: number; memory: number } {
  const cores = Math.max(resources?.cores ?? 1, 0.25);
  const memory = cores * (resources?.ramPerCoreMb ?? 2000);
  for (const size of fargateSizes) {
    if (size.cpu < cores * 1024) continue;
    const fit = size.memory.find((m) => m >= memory);
    if (fit !== undefined) return { cpu: size.cpu, memory: fit };
  }
  const largest = fargateSizes.at(-1) as (typeof fargateSizes)[number];
  return { cpu: largest.cpu, memory: largest.memory.at(-1) as number };
}

/** ECS `startedBy` (letters, digits, `-`, `_`, `/`, at most 128): how a pilot's tasks are found again. */
export const startedByOf = (pilotId: string): string => pilotId.replace(/[^\w/-]/g, '_').slice(0, 128);

/** A task whose transformer may still run (a stopping one is draining): what counts as a live pilot. */
const gone = new Set(['DEPROVISIONING', 'STOPPED']);

/**
 * Pilots as Fargate tasks: one task per pilot, started with the pilot's settings as container overrides
 * (a setting the spec leaves out, such as PAYLOAD_COMMAND when the workflow names none, keeps the image's),
 * tagged `run_id` and `pilot_id`, and found again by `startedBy` = pilot id. `stop` is ECS's StopTask, a
 * SIGTERM the transformer drains on (the container's stop timeout gives it time) before SIGKILL; as a local
 * pilot process, a stopping task is alive until its container has exited.
 */
export function ecsPilotLauncher(o: EcsPilotLauncherOptions): PilotLauncher {
  const ecs = o.client ?? new ECSClient({});

  /** Every task of the pilot ECS still lists (stopped ones for about an hour), each attempt's. */
  const allTasksOf = async (pilotId: string): Promise<Task[]> => {
    const startedBy = startedByOf(pilotId);
    const listed = await Promise.all(
      (['RUNNING', 'STOPPED'] as const).map((desiredStatus) =>
        ecs.send(new ListTasksCommand({ cluster: o.cluster, startedBy, desiredStatus })),
      ),
    );
    const arns = listed.flatMap((l) => l.taskArns ?? []);
    if (arns.length === 0) return [];
    const described = await ecs.send(new DescribeTasksCommand({ cluster: o.cluster, tasks: arns }));
    return described.tasks ?? [];
  };
  /** The pilot's tasks whose container may still run: those to keep and those already asked to stop. */
  const tasksOf = async (pilotId: string): Promise<Task[]> =>
    (await allTasksOf(pilotId)).filter((t) => !gone.has(t.lastStatus ?? 'STOPPED'));

  return {
    async start(spec: PilotSpec) {
      // Idempotent: a pilot with a task still running (or draining) is not started twice.
      if ((await tasksOf(spec.pilotId)).length > 0) return {};
      const { cpu, memory } = fargateSize(spec.resources);
      const environment = {
        RUN_ID: spec.runId,
        PILOT_ID: spec.pilotId,
        NAMESPACE: spec.namespace,
        ...(spec.taskId !== undefined && { TASK_ID: String(spec.taskId) }),
        ...spec.env,
      };
      const out = await ecs.send(
        new RunTaskCommand({
          cluster: o.cluster,
          taskDefinition: o.taskDefinition,
          launchType: 'FARGATE',
          count: 1,
          startedBy: startedByOf(spec.pilotId),
          // A retried adjuster invocation of the same attempt starts no second task.
          clientToken: `${startedByOf(spec.pilotId)}.${spec.env.PILOT_ATTEMPT ?? '1'}`.slice(0, 64),
          networkConfiguration: {
            awsvpcConfiguration: {
              subnets: [...o.subnets],
              securityGroups: [...o.securityGroups],
              assignPublicIp: 'DISABLED',
            },
          },
          overrides: {
            cpu: String(cpu),
            memory: String(memory),
            containerOverrides: [
              {
                name: o.containerName,
                environment: Object.entries(environment).map(([name, value]) => ({ name, value })),
              },
            ],
          },
          tags: [
            { key: 'run_id', value: spec.runId },
            { key: 'pilot_id', value: spec.pilotId },
          ],
        }),
      );
      if ((out.tasks ?? []).length === 0) {
        const reasons = (out.failures ?? []).map(
          (f) => `${f.reason ?? 'unknown'}${f.detail ? ` (${f.detail})` : ''}`,
        );
        throw new Error(
          `ECS did not start pilot ${spec.pilotId}: ${reasons.join('; ') || 'no task and no failure'}`,
        );
      }
      return {};
    },

    async isAlive(_runId, pilotId) {
      return (await tasksOf(pilotId)).length > 0;
    },

    async status(_runId, pilotId, attempt): Promise<PilotStatus> {
      const tasks = await allTasksOf(pilotId);
      if (tasks.some((t) => !gone.has(t.lastStatus ?? 'STOPPED'))) return { state: 'running' };
      // The attempt asked about (its PILOT_ATTEMPT override), else the newest task.
      const ofAttempt =
        attempt === undefined ? tasks : tasks.filter((t) => attemptOf(t, o.containerName) === attempt);
      const task = ofAttempt.sort((a, b) => time(b.createdAt) - time(a.createdAt))[0];
      return task ? stoppedStatus(task, o.containerName) : { state: 'unknown' };
    },

    async stop(_runId, pilotId) {
      const tasks = (await tasksOf(pilotId)).filter((t) => t.desiredStatus !== 'STOPPED');
      await Promise.all(
        tasks.map((t) =>
          ecs.send(
            new StopTaskCommand({
              cluster: o.cluster,
              task: t.taskArn,
              reason: 'worker adjuster: fewer workers wanted (SIGTERM: the transformer drains and ends)',
            }),
          ),
        ),
      );
    },
  };
}

const time = (d: Date | undefined): number => (d ? new Date(d).getTime() : 0);

/** The PILOT_ATTEMPT a task was started with (its container override). */
function attemptOf(task: Task, containerName: string): number | undefined {
  const env = task.overrides?.containerOverrides?.find((c) => c.name === containerName)?.environment;
  const v = Number(env?.find((e) => e.name === 'PILOT_ATTEMPT')?.value);
  return Number.isSafeInteger(v) ? v : undefined;
}

/**
 * How a stopped task ended: its transformer container's exit code, 0 a normal end (an idle timeout,
 * stop_transformer, the SIGTERM of a StopTask drained in time); a non-zero one, or none (never started,
 * killed with its host), a failure. ECS's stoppedReason says why.
 */
function stoppedStatus(task: Task, containerName: string): PilotStatus {
  const container = task.containers?.find((c) => c.name === containerName) ?? task.containers?.[0];
  const why = [task.stoppedReason, container?.reason].filter(Boolean).join(': ');
  const reason = why ? { reason: why } : {};
  if (container?.exitCode === 0) return { state: 'exited', code: 0, ...reason };
  return {
    state: 'failed',
    ...(typeof container?.exitCode === 'number' && { code: container.exitCode }),
    // 137 = 128 + SIGKILL: the stop timeout ran out, or the container ran out of memory.
    ...(container?.exitCode === 137 && { signal: 'SIGKILL' }),
    ...reason,
  };
}

/**
 * The ECS launcher the stack configures through PILOT_CLUSTER, PILOT_TASK_DEFINITION, PILOT_CONTAINER,
 * PILOT_SUBNETS and PILOT_SECURITY_GROUPS (comma-separated); undefined when PILOT_CLUSTER is not set.
 */
export function ecsPilotLauncherFromEnv(env: NodeJS.ProcessEnv): PilotLauncher | undefined {
  if (!env.PILOT_CLUSTER) return undefined;
  const need = (key: string): string => {
    const v = env[key];
    if (!v) throw new Error(`PILOT_CLUSTER is set but ${key} is not: the ECS launcher needs both`);
    return v;
  };
  const list = (key: string) =>
    need(key)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return ecsPilotLauncher({
    cluster: env.PILOT_CLUSTER,
    taskDefinition: need('PILOT_TASK_DEFINITION'),
    containerName: env.PILOT_CONTAINER || 'transformer',
    subnets: list('PILOT_SUBNETS'),
    securityGroups: list('PILOT_SECURITY_GROUPS'),
  });
}
