import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brokerConnectHost, checkBrokerHost, defaultBrokerHost } from './activemq.ts';
import { credentialsFile, defaultStateDir } from './state.ts';
import { type PartName, partNames } from './supervisor.ts';

/** Where the LocalStack stack is whose functions handle the queues. */
export interface LocalStackTarget {
  /** LocalStack's edge URL. @default http://localhost:4566 (`--localstack` alone, TESTBED_LOCALSTACK_URL empty) */
  readonly url: string;
  /** @default SwfTestbedLocal (TESTBED_LOCALSTACK_STACK) */
  readonly stackName: string;
  /** Where `cdklocal deploy` put it. @default us-east-1 (AWS_REGION) */
  readonly region: string;
  /** The DynamoDB the runner, CLI and pilots read. @default `url` (AWS_ENDPOINT_URL_DYNAMODB, a stand-in's in the tests) */
  readonly dynamodbEndpoint: string;
}

/** Where the local stack lives and listens. */
export interface StackConfig {
  readonly stateDir: string;
  /** @default 61613 (TESTBED_STOMP_PORT) */
  readonly stompPort: number;
  /** The IPv4 address STOMP listens on: 0.0.0.0 or a bridge's for LocalStack's containers. @default 127.0.0.1 (TESTBED_BROKER_HOST) */
  readonly brokerHost: string;
  /** @default 4567, dynalite's own default (TESTBED_DYNAMODB_PORT) */
  readonly dynamodbPort: number;
  /** The monitor's HTTP API and dashboard, on loopback. @default 8642 (TESTBED_API_PORT) */
  readonly apiPort: number;
  /**
   * The LocalStack whose functions handle the queues (`testbed up --localstack [URL]`): the runner invokes
   * them, and the runner, CLI and pilots read LocalStack's DynamoDB instead of dynalite.
   * @default none: the handlers run in the runner (TESTBED_LOCALSTACK_URL, TESTBED_LOCALSTACK_STACK)
   */
  readonly localstack?: LocalStackTarget;
}

export interface StackOverrides {
  stateDir?: string;
  stompPort?: number;
  brokerHost?: string;
  dynamodbPort?: number;
  apiPort?: number;
  /** `--localstack` alone means LocalStack's default URL. */
  localstack?: string | true;
}

const defaultLocalStackUrl = 'http://localhost:4566';

const stackFile = (stateDir: string) => join(stateDir, 'stack.json');

/** Flags win, then the environment, then what the running stack recorded, then the defaults. */
export function resolveStack(o: StackOverrides = {}, env: NodeJS.ProcessEnv = process.env): StackConfig {
  const stateDir = o.stateDir ?? defaultStateDir();
  const saved: Partial<StackConfig> = existsSync(stackFile(stateDir))
    ? JSON.parse(readFileSync(stackFile(stateDir), 'utf8'))
    : {};
  const port = (flag: number | undefined, key: string, fallback: number) => {
    const v = flag ?? (env[key] ? Number(env[key]) : undefined) ?? fallback;
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`${key}: not a TCP port: ${v}`);
    return v;
  };
  return {
    stateDir,
    stompPort: port(o.stompPort, 'TESTBED_STOMP_PORT', saved.stompPort ?? 61613),
    brokerHost: checkBrokerHost(
      o.brokerHost ?? (env.TESTBED_BROKER_HOST || undefined) ?? saved.brokerHost ?? defaultBrokerHost,
    ),
    dynamodbPort: port(o.dynamodbPort, 'TESTBED_DYNAMODB_PORT', saved.dynamodbPort ?? 4567),
    apiPort: port(o.apiPort, 'TESTBED_API_PORT', saved.apiPort ?? 8642),
    ...localStackFrom(o.localstack ?? env.TESTBED_LOCALSTACK_URL, env, saved.localstack),
  };
}

/** The LocalStack a process of the stack was started for (its environment, from `stackEnvironment`). */
export const localStackOf = (env: NodeJS.ProcessEnv): LocalStackTarget | undefined =>
  localStackFrom(env.TESTBED_LOCALSTACK_URL, env, undefined).localstack;

function localStackFrom(
  given: string | true | undefined,
  env: NodeJS.ProcessEnv,
  saved: LocalStackTarget | undefined,
): { localstack?: LocalStackTarget } {
  if (given === undefined) return saved ? { localstack: saved } : {};
  const url = given === true || given === '' ? defaultLocalStackUrl : given;
  if (!/^https?:\/\/[^/]+/.test(url)) throw new Error(`TESTBED_LOCALSTACK_URL: not an http(s) URL: ${url}`);
  return {
    localstack: {
      url,
      stackName: env.TESTBED_LOCALSTACK_STACK || 'SwfTestbedLocal',
      region: env.AWS_REGION || 'us-east-1',
      dynamodbEndpoint: env.AWS_ENDPOINT_URL_DYNAMODB || url,
    },
  };
}

/** Records the ports of a stack being started, so later commands find it without flags. */
export function recordStack(s: StackConfig): void {
  writeFileSync(
    stackFile(s.stateDir),
    JSON.stringify({
      stompPort: s.stompPort,
      brokerHost: s.brokerHost,
      dynamodbPort: s.dynamodbPort,
      apiPort: s.apiPort,
      ...(s.localstack && { localstack: s.localstack }),
    }),
  );
}

/**
 * The parts the supervisor runs for this stack, in start order: all of them, but no dynalite when the
 * stack's DynamoDB is LocalStack's. Whatever lists, waits on, restarts, reports or stops parts follows this.
 */
export const stackPartNames = (s: StackConfig): PartName[] =>
  partNames.filter((n) => n !== 'dynalite' || s.localstack === undefined);

/** The DynamoDB the runner, CLI and pilots read: dynalite's on loopback, or LocalStack's. */
export const dynamodbEndpoint = (s: StackConfig): string =>
  s.localstack?.dynamodbEndpoint ?? `http://127.0.0.1:${s.dynamodbPort}`;

/** The environment handlers, pilots and the CLI use to reach the local stack (no secret in it: a file name). */
export function stackEnvironment(s: StackConfig): Record<string, string> {
  return {
    TESTBED_STATE_DIR: s.stateDir,
    BROKER_URL: `stomp://${brokerConnectHost(s.brokerHost)}:${s.stompPort}`,
    BROKER_CREDENTIALS_FILE: credentialsFile(s.stateDir),
    DYNAMODB_ENDPOINT: dynamodbEndpoint(s),
    TABLE_PREFIX: 'testbed-',
    STF_STORE: join(s.stateDir, 'stf'),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(s.localstack && {
      TESTBED_LOCALSTACK_URL: s.localstack.url,
      TESTBED_LOCALSTACK_STACK: s.localstack.stackName,
      AWS_REGION: s.localstack.region,
    }),
  };
}
