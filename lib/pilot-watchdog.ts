import { Duration } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Broker } from './broker.ts';
import { HandlerFunction } from './handler-function.ts';
import { suppress } from './nag.ts';
import type { Pilots } from './pilots.ts';
import type { Tables } from './tables.ts';

export interface PilotWatchdogProps {
  readonly vpc: IVpc;
  /** The handlers' security group: it reaches the broker and the DynamoDB, ECS and Secrets Manager endpoints. */
  readonly securityGroup: ISecurityGroup;
  /** Whose dead-letter queues it replays messages from (parked after a transient failure). */
  readonly broker: Broker;
  readonly tables: Tables;
  readonly pilots: Pilots;
  /** @default every minute */
  readonly every?: Duration;
}

/**
 * The pilot watchdog (functions/pilot-watchdog, layers/domain/pilot-watchdog.ts) on a schedule: marks
 * pilots silent for three heartbeat intervals, or whose task has stopped without a transformer_end, 'lost'
 * and starts a new attempt in their slot, three per slot at most. It reads the runs, writes the pilots, and
 * runs, lists and stops the pilot cluster's tasks as the worker adjuster does. On the same schedule it
 * replays the messages handlers parked after a transient failure (layers/runtime/dead-letter-replay.ts),
 * with back-off: for that it reads the broker secret and speaks STOMP to the broker, nothing more.
 */
export class PilotWatchdog extends Construct {
  public readonly function: HandlerFunction;
  public readonly rule: Rule;
  /** Failed invocations (kept 14 days), to see why passes failed; the next pass comes a minute later anyway. */
  public readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: PilotWatchdogProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    suppress(this.deadLetterQueue, [
      {
        id: 'AwsSolutions-SQS3',
        reason: "It is a dead-letter queue: the watchdog's failed invocations land here.",
      },
      { id: 'Serverless-SQSRedrivePolicy', reason: 'It is a dead-letter queue; nothing redrives from it.' },
    ]);
    this.function = new HandlerFunction(this, 'Function', {
      handler: 'pilot-watchdog',
      network: { vpc: props.vpc, securityGroup: props.securityGroup },
      deadLetterQueue: this.deadLetterQueue,
      environment: {
        ...props.tables.environment(),
        ...props.pilots.launcherEnvironment(),
        BROKER_URL: props.broker.stompUrl,
        BROKER_SECRET_ARN: props.broker.credentials.secretArn,
      },
    });
    this.function.grantTables(props.tables.byName, { runs: 'read', pilots: 'write' });
    props.pilots.grantLaunch(this.function);
    props.broker.credentials.grantRead(this.function);
    this.rule = new Rule(this, 'Schedule', {
      description:
        'Every minute: replace lost pilots of the runs being processed, replay messages parked for a transient failure',
      schedule: Schedule.rate(props.every ?? Duration.minutes(1)),
      // One try: a pass that failed is as good as the next one, a minute later.
      targets: [
        new LambdaFunction(this.function, { retryAttempts: 0, deadLetterQueue: this.deadLetterQueue }),
      ],
    });
    suppress(this.function, [
      {
        id: 'Serverless-LambdaAsyncFailureDestination',
        reason:
          'Failed scheduled invocations go to its dead-letter queue; a destination would send them twice.',
      },
    ]);
  }
}
