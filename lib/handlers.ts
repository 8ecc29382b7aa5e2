import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { type IVpc, SecurityGroup } from 'aws-cdk-lib/aws-ec2';
import type { CfnEventSourceMapping } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { handlerQueue, type Route, routes } from '#routes/route-table.ts';
import type { TableName } from '#tables/definitions.ts';
import type { Broker } from './broker.ts';
import { HandlerFunction, type TableAccess } from './handler-function.ts';
import { MqEventSource } from './mq-event-source.ts';
import { suppress } from './nag.ts';
import { handlerId as logicalId } from './outputs.ts';
import type { Pilots } from './pilots.ts';
import type { StfBucket } from './stf-bucket.ts';
import type { Tables } from './tables.ts';

type Access = Partial<Record<TableName, TableAccess>>;

/**
 * The tables each function's domain code touches (read from `layers/domain`), and how: every function gets
 * exactly these grants, plus `messageLog` for the queue-driven ones. `write` covers the reads too
 * (conditional updates read their ALL_NEW images).
 */
export const tableAccess: Readonly<Record<string, Access>> = {
  // openRuns: the run item and the task id counter.
  'run-imminent': { runs: 'write', counters: 'write' },
  'start-run': { runs: 'write' },
  'pause-run': { runs: 'write' },
  'resume-run': { runs: 'write' },
  // endRuns, then checkCompletion on the run item.
  'end-run': { runs: 'write' },
  'run-stop': { runs: 'write' },
  // registerStfs / sliceStfs: the STF item and the run's STF bookkeeping; sliceStfs also claims each slice's
  // request time in the lookups (conditional puts).
  'stf-gen': { runs: 'write', stfs: 'write' },
  'stf-ready': { runs: 'write', stfs: 'write', lookups: 'put' },
  // recordSliceResults: slices, the STF's done slices, the run's completed STFs and completion; a result
  // without the slice's name reads the slice's request in the lookups (which the message log also puts to).
  'slice-result': { runs: 'write', stfs: 'write', slices: 'write', lookups: 'write' },
  // adjustWorkers reads the run (task closed?) and claims pilot slots.
  'adjuster-worker': { runs: 'read', pilots: 'write' },
  'transformer-start': { pilots: 'write' },
  'transformer-heartbeat': { pilots: 'write' },
  'transformer-end': { pilots: 'write' },
  // routeByBody only sends on to the broker; what it records or refuses goes to the message log.
  headerless: {},
  // simulateRun: run and execution counters, the invocation claim, the DAQ checkpoint in the run item.
  'daq-simulator': { runs: 'write', counters: 'write' },
};

/** What `mqHandler` itself writes for every queue-driven handler: the message log (layers/messaging/message-log.ts). */
export const messageLog: Access = { messages: 'put', lookups: 'put' };

export interface Batching {
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
}

/**
 * Amazon MQ mappings retry a failed batch whole (there is no partial batch response) and run at most five
 * concurrent invocations per mapping, so the batch is chosen per kind of message:
 * - one message per STF or slice (stf_gen, stf_ready, slice_result, heartbeats): a 1,000-STF run sends
 *   about 7,000 of them. Batches of up to 100 gathered for at most 1 s cut the invocations a hundredfold
 *   and keep five pollers ahead of the transformers; the second only delays when a result is recorded,
 *   not the delay measured (the transformer stamps processing_start_at and processed_at itself). Not more
 *   than 100: a batch is redone whole when one message fails, and must finish within the 60 s timeout.
 * - one message per run or pilot (run_imminent … transformer_end): few, and run_imminent → adjuster_worker
 *   is the path to the first pilot. Invoke as soon as one arrives (no window); 10 covers a burst of pilots.
 *   Messages without a msg_type header are batched so too: upstream's run_imminent comes that way.
 */
export const streamBatching: Batching = { batchSize: 100, maxBatchingWindow: Duration.seconds(1) };
export const controlBatching: Batching = { batchSize: 10, maxBatchingWindow: Duration.seconds(0) };
const streamRoutes = new Set(['stf_gen', 'stf_ready', 'slice_result', 'transformer_heartbeat']);
export const batchingFor = (r: Route): Batching =>
  streamRoutes.has(r.msgType ?? r.name) ? streamBatching : controlBatching;

/** What tells a queue of a handler spread over several apart: `.3` for `slice_result.3`, '' for one queue. */
const queuePart = (r: Route): string => r.name.slice(r.msgType?.length ?? r.name.length);

export interface HandlersProps {
  readonly vpc: IVpc;
  readonly broker: Broker;
  readonly tables: Tables;
  readonly stf: StfBucket;
  readonly pilots: Pilots;
  /** @default the route table */
  readonly routes?: readonly Route[];
}

/** Where the DAQ simulator's failed asynchronous invocations go: encrypted, TLS only, kept 14 days. */
export function daqDeadLetterQueue(scope: Construct): Queue {
  const queue = new Queue(scope, 'DaqSimulatorDeadLetterQueue', {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  suppress(queue, [
    {
      id: 'AwsSolutions-SQS3',
      reason: "It is a dead-letter queue: the DAQ simulator's failed asynchronous invocations land here.",
    },
    { id: 'Serverless-SQSRedrivePolicy', reason: 'It is a dead-letter queue; nothing redrives from it.' },
  ]);
  return queue;
}

/** What every handler function is given, in AWS and in LocalStack: the broker, its secret, the tables' names. */
export const handlerEnvironment = (
  brokerUrl: string,
  brokerSecret: string,
  tables: Tables,
): Record<string, string> => ({
  BROKER_URL: brokerUrl,
  BROKER_SECRET_ARN: brokerSecret,
  ...tables.environment(),
});

/** Grants `handler`'s function its tables as `tableAccess` says, plus `logged` (the message log, when queue-driven). */
export function grantHandlerTables(
  fn: HandlerFunction,
  handler: string,
  tables: Tables,
  logged: Access = {},
): void {
  const access = tableAccess[handler];
  if (!access) throw new Error(`Handlers: no table access is declared for ${handler} in tableAccess.`);
  fn.grantTables(tables.byName, { ...logged, ...access });
}

/**
 * One function per handler of the route table, each with the MQ event source mapping of its queue, and the
 * DAQ simulator, invoked directly (asynchronously), with a dead-letter queue and an alarm on its depth.
 */
export class Handlers extends Construct {
  /** By handler name (`run-imminent`, …, `daq-simulator`). */
  public readonly functions: Readonly<Record<string, HandlerFunction>>;
  /** By handler name, the mapping of its queue; `slice-result.<k>` for the further queues of `resultQueues`. */
  public readonly mappings: Readonly<Record<string, CfnEventSourceMapping>>;
  public readonly daqSimulator: HandlerFunction;
  public readonly daqDeadLetterQueue: Queue;
  public readonly daqDeadLetterAlarm: Alarm;
  public readonly securityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: HandlersProps) {
    super(scope, id);
    const { broker, tables } = props;
    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Handler functions: out to the broker (STOMP+SSL) and the VPC endpoints only',
      allowAllOutbound: true,
    });
    broker.allowStompFrom(this.securityGroup, 'Handler functions');
    const environment = handlerEnvironment(broker.stompUrl, broker.credentials.secretArn, tables);
    const make = (
      handler: string,
      extra: Partial<ConstructorParameters<typeof HandlerFunction>[2]> = {},
      logged: Access = {},
    ) => {
      const fn = new HandlerFunction(this, logicalId(handler), {
        handler,
        network: { vpc: props.vpc, securityGroup: this.securityGroup },
        ...extra,
        environment: { ...environment, ...extra.environment },
      });
      grantHandlerTables(fn, handler, tables, logged);
      broker.credentials.grantRead(fn);
      return fn;
    };

    const functions: Record<string, HandlerFunction> = {};
    const mappings: Record<string, CfnEventSourceMapping> = {};
    for (const route of props.routes ?? routes) {
      // A handler spread over several queues (slice_result, `resultQueues`) has one function, a mapping each.
      const part = queuePart(route);
      const known = functions[route.handler];
      const adjuster = route.msgType === 'adjuster_worker';
      const fn =
        known ??
        make(route.handler, adjuster ? { environment: props.pilots.launcherEnvironment() } : {}, messageLog);
      if (adjuster && !known) props.pilots.grantLaunch(fn);
      const batching = batchingFor(route);
      mappings[`${route.handler}${part}`] = new MqEventSource({
        brokerArn: broker.brokerArn,
        queue: handlerQueue(route),
        credentials: broker.credentials,
        batchSize: batching.batchSize,
        maxBatchingWindow: batching.maxBatchingWindow,
      }).bind(fn, `MqEventSource${part.replace('.', '')}`);
      if (known) continue;
      suppress(fn, [
        {
          id: 'Serverless-LambdaDLQ',
          reason:
            'Invoked synchronously by its MQ event source mapping only: a failed batch goes back to the broker, ' +
            'which redelivers it and then parks it in DLQ.<queue>.',
        },
        {
          id: 'Serverless-LambdaAsyncFailureDestination',
          reason: 'Never invoked asynchronously: its only invoker is its MQ event source mapping.',
        },
        {
          id: 'Serverless-LambdaEventSourceMappingDestination',
          reason:
            'Amazon MQ mappings take no on-failure destination; the broker parks failed messages in DLQ.<queue>.',
        },
      ]);
      functions[route.handler] = fn;
    }

    this.daqDeadLetterQueue = daqDeadLetterQueue(this);
    this.daqSimulator = make('daq-simulator', {
      // A run longer than one invocation checkpoints and chains itself; 15 min keeps the chain short.
      timeout: Duration.minutes(15),
      // STFs are generated and checksummed in memory.
      memorySize: 1024,
      deadLetterQueue: this.daqDeadLetterQueue,
      environment: { STF_STORE: props.stf.location },
    });
    this.daqSimulator.grantSelfInvoke();
    props.stf.grantWrite(this.daqSimulator);
    suppress(this.daqSimulator, [
      {
        id: 'Serverless-LambdaAsyncFailureDestination',
        reason:
          'Failed asynchronous invocations go to its dead-letter queue; a destination would send them twice.',
      },
    ]);
    functions['daq-simulator'] = this.daqSimulator;

    this.daqDeadLetterAlarm = new Alarm(this, 'DaqSimulatorDeadLetterAlarm', {
      alarmDescription: 'A DAQ simulator invocation failed for good: its event is in the dead-letter queue.',
      metric: this.daqDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    this.functions = functions;
    this.mappings = mappings;
  }
}
