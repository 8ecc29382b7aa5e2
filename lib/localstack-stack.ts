import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type TableName, tables as tableDefinitions } from '#tables/definitions.ts';
import { HandlerFunction } from './handler-function.ts';
import { daqDeadLetterQueue, tableAccess } from './handlers.ts';
import { suppress } from './nag.ts';
import { StfBucket } from './stf-bucket.ts';
import { Tables } from './tables.ts';
import { outputKeys } from './testbed-stack.ts';

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
 * The part of the testbed LocalStack's free image emulates: the DynamoDB tables, the STF bucket, the DAQ simulator
 * Lambda and its SQS dead-letter queue. No broker, no MQ mappings, no VPC: LocalStack emulates Amazon MQ only in
 * its paid image and has no MQ trigger, so the broker stays the local ActiveMQ of `testbed up`, whose runner
 * runs the message handlers. Deployed with `cdklocal`, never to AWS.
 */
export class LocalStackStack extends Stack {
  public readonly tables: Tables;
  public readonly stf: StfBucket;
  public readonly daqSimulator: HandlerFunction;

  constructor(scope: Construct, id: string, props: LocalStackStackProps = {}) {
    super(scope, id, {
      description:
        'EIC streaming workflow testbed, the part LocalStack emulates (tables, STF bucket, DAQ simulator)',
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
    this.daqSimulator = new HandlerFunction(this, 'DaqSimulator', {
      handler: 'daq-simulator',
      timeout: Duration.minutes(15),
      memorySize: 1024,
      // LocalStack runs the function in a container of the host's architecture without emulation.
      architecture: Architecture.X86_64,
      deadLetterQueue: daqDeadLetterQueue(this),
      environment: {
        BROKER_URL: props.brokerUrl ?? 'stomp://host.docker.internal:61613',
        BROKER_SECRET_ARN: credentials.secretName,
        TABLE_PREFIX: prefix,
        STF_STORE: this.stf.location,
      },
    });
    this.daqSimulator.grantTables(this.tables.byName, tableAccess['daq-simulator'] ?? {});
    this.daqSimulator.grantSelfInvoke();
    credentials.grantRead(this.daqSimulator);
    this.stf.grantWrite(this.daqSimulator);
    // The outputs `testbed run --target aws` reads, so it runs against LocalStack too (AWS_ENDPOINT_URL).
    const dlq = this.daqSimulator.deadLetterQueue as IQueue;
    new CfnOutput(this, outputKeys.daqFunction, { value: this.daqSimulator.functionName });
    new CfnOutput(this, outputKeys.daqDeadLetterQueue, { value: dlq.queueUrl });
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
