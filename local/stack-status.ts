import { brokerConnectHost, brokerDaemon, brokerPid } from './activemq.ts';
import { dynaliteDaemon, dynalitePid } from './dynalite.ts';
import { type Daemon, portAccepts, readPid } from './processes.ts';
import { dynamodbEndpoint, type StackConfig, stackPartNames } from './stack.ts';
import { stackDynamoClient } from './stack-dynamo.ts';
import { apiDaemon, runnerDaemon } from './stack-parts.ts';
import {
  type PartName,
  type PartPhase,
  type RestartRecord,
  readSupervisorState,
  supervisorDaemon,
} from './supervisor.ts';

export interface ServiceStatus {
  readonly service: string;
  readonly pid?: number;
  readonly address?: string;
  readonly healthy: boolean;
  /** Its log file. */
  readonly detail?: string;
  /** What the supervisor does with it (running, restarting, waiting, left-down, stopped…); none without one. */
  readonly phase?: PartPhase;
  readonly restarts?: number;
  readonly last_restart?: RestartRecord;
  /** Why it waits or was left down, naming its log. */
  readonly message?: string;
}

/**
 * Whether the stack's DynamoDB answers with its tables. Bounded: a stopped (SIGSTOP) dynalite takes the
 * connection but never answers.
 */
async function tablesAnswer(s: StackConfig): Promise<boolean> {
  const client = stackDynamoClient(s, { requestTimeoutMs: 5_000, maxAttempts: 1 });
  try {
    const { ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
    const names = (await client.send(new ListTablesCommand({}))).TableNames ?? [];
    return names.length > 0;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

/**
 * Whether the stack's DynamoDB answers: as its dynalite row says, or, when it is LocalStack's (no part of
 * the stack, no row), asked here.
 */
export const dynamoAnswers = async (s: StackConfig, services: ServiceStatus[]): Promise<boolean> =>
  services.find((r) => r.service === 'dynalite')?.healthy ?? (await tablesAnswer(s));

/** Each of the stack's parts (`stackPartNames`): its health as seen from here, what its supervisor says. */
export async function status(s: StackConfig): Promise<ServiceStatus[]> {
  const supervisor = readSupervisorState(s.stateDir);
  const listens = async (pid: number | undefined, port: number, host?: string) =>
    pid !== undefined && (await portAccepts(port, host));
  const part = (
    service: PartName,
    pid: number | undefined,
    daemon: Daemon,
    healthy: boolean,
    address?: string,
  ): ServiceStatus => {
    const p = supervisor?.parts[service];
    return {
      service,
      pid,
      ...(address !== undefined && { address }),
      healthy,
      detail: daemon.logFile,
      ...(p && {
        phase: p.phase,
        restarts: p.restarts,
        ...(p.last_restart && { last_restart: p.last_restart }),
        ...(p.message && { message: p.message }),
      }),
    };
  };
  const rows: Record<PartName, () => Promise<ServiceStatus>> = {
    broker: async () => {
      const pid = brokerPid(s.stateDir);
      const healthy = await listens(pid, s.stompPort, brokerConnectHost(s.brokerHost));
      return part('broker', pid, brokerDaemon(s.stateDir), healthy, `stomp://${s.brokerHost}:${s.stompPort}`);
    },
    dynalite: async () => {
      const pid = dynalitePid(s.stateDir);
      const healthy = pid !== undefined && (await tablesAnswer(s));
      return part('dynalite', pid, dynaliteDaemon(s.stateDir), healthy, dynamodbEndpoint(s));
    },
    runner: async () => {
      const pid = readPid(runnerDaemon(s.stateDir));
      return part('runner', pid, runnerDaemon(s.stateDir), pid !== undefined);
    },
    api: async () => {
      const pid = readPid(apiDaemon(s.stateDir));
      const healthy = await listens(pid, s.apiPort);
      return part('api', pid, apiDaemon(s.stateDir), healthy, `http://127.0.0.1:${s.apiPort}`);
    },
  };
  return Promise.all(stackPartNames(s).map((n) => rows[n]()));
}

/** Where the handlers run, as `testbed status` shows it beside the parts. */
export interface HandlersStatus {
  readonly mode: 'embedded' | 'localstack';
  /** `embedded (in the runner)`, or LocalStack's URL and stack. */
  readonly address: string;
  /** LocalStack answered its health check; embedded handlers are as healthy as the runner. */
  readonly healthy?: boolean;
  /** LocalStack's version and services, or why it is unreachable. */
  readonly message?: string;
}

export async function handlersStatus(s: StackConfig): Promise<HandlersStatus> {
  if (!s.localstack) return { mode: 'embedded', address: 'embedded (in the runner)' };
  const { address, healthy, message } = await localStackHealth(s.localstack.url, s.localstack.stackName);
  return { mode: 'localstack', address: address as string, healthy, ...(message && { message }) };
}

/** LocalStack's services that a run uses, in the order `testbed status` names them. */
const runServices = ['lambda', 'dynamodb', 's3', 'cloudformation'];

/**
 * The handlers of `testbed up --localstack`: the LocalStack at `url`, healthy when its health endpoint
 * (`GET /_localstack/health`) answers, with its version and the state of the services a run uses.
 */
export async function localStackHealth(url: string, stackName: string): Promise<ServiceStatus> {
  const base = { service: 'handlers', address: `LocalStack ${url} (stack ${stackName})` };
  let res: Response;
  try {
    // Bounded: a LocalStack still starting takes the connection and answers late.
    res = await fetch(new URL('/_localstack/health', url), { signal: AbortSignal.timeout(5_000) });
  } catch (error) {
    return { ...base, healthy: false, message: `unreachable: ${(error as Error).message}` };
  }
  const text = await res.text();
  if (!res.ok) return { ...base, healthy: false, message: `health answered HTTP ${res.status}` };
  return { ...base, healthy: true, message: healthSummary(text) };
}

/** `version 4.0.0: lambda running, dynamodb available…` from LocalStack's health answer, or what it said. */
export function healthSummary(body: string): string {
  try {
    const h = JSON.parse(body) as { version?: string; services?: Record<string, string> };
    const services = runServices.map((n) => `${n} ${h.services?.[n] ?? 'absent'}`).join(', ');
    return `${h.version ? `version ${h.version}: ` : ''}${services}`;
  } catch {
    return `health answered: ${body.slice(0, 80)}`;
  }
}

/** The supervisor as `testbed status` shows it, beside the parts. */
export interface SupervisorStatus {
  readonly pid?: number;
  readonly running: boolean;
  readonly log: string;
  readonly message?: string;
}

export function supervisorStatus(s: StackConfig): SupervisorStatus {
  const d = supervisorDaemon(s.stateDir);
  const pid = readPid(d);
  return {
    ...(pid !== undefined && { pid }),
    running: pid !== undefined,
    log: d.logFile,
    ...(pid === undefined && {
      message: 'not running: nothing restarts a part that dies (testbed up starts it)',
    }),
  };
}
