import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type Route, routes } from '#routes/route-table.ts';
import { type TableName, tables as tableDefinitions } from '#tables/definitions.ts';
import { HandlerFunction } from './handler-function.ts';
import { daqDeadLetterQueue, grantHandlerTables, handlerEnvironment, messageLog } from './handlers.ts';
import { suppress } from './nag.ts';
import { handlerId, outputKeys } from './outputs.ts';
import { StfBucket } from './stf-bucket.ts';
import { Tables } from './tables.ts';

export interface LocalStackStackProps extends StackProps {
  /** BROKER_URL as LocalStack's Lambda containers reach the broker of `testbed up`. @default stomp://host.docker.internal:61613 */
  readonly brokerUrl?: string;
  /**
   * The LocalStack secret with the local broker's `{"username", "password"}` (created from
   * `.testbed/credentials.json`, never put in the template). @default 'testbed-broker'
   */
  readonly brokerSecretName?: string;
  /** Physical table names, as the local runtime's TABLE_PREFIX. @default 'testbed-' */
  readonly tablePrefix?: string;
}

/**
 * Handlers that stay in the runner of `testbed up`, on the host: the worker adjuster starts and stops the pilots,
 * which are local processes here (LocalStack's free image has no ECS), and a function in a LocalStack container
 * cannot start a process on the host.
 */
export const hostHandlers: ReadonlySet<string> = new Set(['adjuster-worker']);

/**
 * The testbed as LocalStack's free image can hold it: the DynamoDB tables, the STF bucket, a function per handler
 * of the route table (bar `hostHandlers`) and the DAQ simulator with its SQS dead-letter queue, bundled and
 * configured as in the AWS stack. No broker, no MQ mappings, no VPC, no ECS: LocalStack emulates Amazon MQ only
 * in its paid image and has no MQ trigger, so the broker stays the local ActiveMQ of `testbed up`, whose runner
 * invokes each handler's function with its queue's batches, and the pilots stay local processes. Deployed with
 * `cdklocal`, never to AWS.
 */
export class LocalStackStack extends Stack {
  public readonly tables: Tables;
  public readonly stf: StfBucket;
  /** By handler name (`run-imminent`, …), the functions the runner invokes for their queues. */
  public readonly functions: Readonly<Record<string, HandlerFunction>>;
  public readonly daqSimulator: HandlerFunction;

  constructor(scope: Construct, id: string, props: LocalStackStackProps = {}) {
    super(scope, id, {
      description:
        'EIC streaming workflow testbed in LocalStack: tables, STF bucket, a function per handler, DAQ simulator',
      ...props,
    });
    const prefix = props.tablePrefix ?? 'testbed-';
    this.tables = new Tables(this, 'Tables', { tableNamePrefix: prefix });
    this.stf = new StfBucket(this, 'Stf');
    const credentials = Secret.fromSecretNameV2(
      this,
      'BrokerCredentials',
      props.brokerSecretName ?? 'testbed-broker',
    );
    const environment = {
      ...handlerEnvironment(
        props.brokerUrl ?? 'stomp://host.docker.internal:61613',
        credentials.secretName,
        this.tables,
      ),
      TABLE_PREFIX: prefix,
    };
    const make = (
      handler: string,
      extra: Partial<ConstructorParameters<typeof HandlerFunction>[2]> = {},
      logged: typeof messageLog = {},
    ) => {
      const fn = new HandlerFunction(this, handlerId(handler), {
        handler,
        // LocalStack runs the function in a container of the host's architecture without emulation.
        architecture: Architecture.X86_64,
        ...extra,
        environment: { ...environment, ...extra.environment },
      });
      grantHandlerTables(fn, handler, this.tables, logged);
      credentials.grantRead(fn);
      return fn;
    };

    const functions: Record<string, HandlerFunction> = {};
    for (const route of routes.filter((r: Route) => !hostHandlers.has(r.handler))) {
      const fn = make(route.handler, {}, messageLog);
      suppress(fn, [
        {
          id: 'Serverless-LambdaDLQ',
          reason:
            'Invoked synchronously by the runner of `testbed up` only: a failed batch is retried by the runner, ' +
            'which then parks its messages in DLQ.<queue>.',
        },
        {
          id: 'Serverless-LambdaAsyncFailureDestination',
          reason: 'Never invoked asynchronously: its only invoker is the runner of `testbed up`.',
        },
      ]);
      functions[route.handler] = fn;
      new CfnOutput(this, outputKeys.handlerFunction(route.handler), {
        value: fn.functionName,
        description: `Invoked by the runner with the batches of swf.handler.${route.name}`,
      });
    }
    this.functions = functions;

    this.daqSimulator = make('daq-simulator', {
      timeout: Duration.minutes(15),
      memorySize: 1024,
      deadLetterQueue: daqDeadLetterQueue(this),
      environment: { STF_STORE: this.stf.location },
    });
    this.daqSimulator.grantSelfInvoke();
    this.stf.grantWrite(this.daqSimulator);
    // The outputs `testbed run --target aws` reads, so it runs against LocalStack too (AWS_ENDPOINT_URL).
    const dlq = this.daqSimulator.deadLetterQueue as IQueue;
    new CfnOutput(this, outputKeys.daqFunction, { value: this.daqSimulator.functionName });
    new CfnOutput(this, outputKeys.daqDeadLetterQueue, { value: dlq.queueUrl });
    new CfnOutput(this, outputKeys.stfBucket, { value: this.stf.bucket.bucketName });
    for (const name of Object.keys(tableDefinitions) as TableName[]) {
      new CfnOutput(this, outputKeys.table(name), { value: this.tables.byName[name].tableName });
    }
    suppress(this.daqSimulator, [
      {
        id: 'Serverless-LambdaAsyncFailureDestination',
        reason:
          'Failed asynchronous invocations go to its dead-letter queue; a destination would send them twice.',
      },
    ]);
  }
}
