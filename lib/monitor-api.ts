import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type Grant, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type FunctionUrl, FunctionUrlAuthType } from 'aws-cdk-lib/aws-lambda';
import type { ILogGroup, LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TableName } from '#tables/definitions.ts';
import { HandlerFunction } from './handler-function.ts';
import { suppress } from './nag.ts';

export interface MonitorApiProps {
  /** The testbed's tables; the monitor reads them (never writes). */
  readonly tables: Readonly<Record<TableName, ITable>>;
  /** The log groups `/api/logs` reads: the handlers' and the pilots'. @default none (the logs query returns nothing) */
  readonly logGroups?: readonly ILogGroup[];
  /** @default one month */
  readonly logRetention?: RetentionDays;
  /** Roles or users that may call the URL: each is granted what `grantInvokeUrl` grants. @default none */
  readonly invokers?: readonly IGrantable[];
}

/**
 * The monitor's read-only JSON API in AWS: `functions/monitor-api` behind a Lambda function URL with AWS_IAM
 * auth, the same query layer as `testbed up`'s API. Callers sign with SigV4 and need both
 * `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` on the function (AWS asks for both since October
 * 2025): `grantInvokeUrl` grants them.
 * A function URL rather than API Gateway: one resource, IAM auth built in, and no stage or route to keep in
 * step with the routes the handler already knows. It runs outside the VPC: it reaches only DynamoDB and
 * CloudWatch Logs, with its role's credentials, and never the broker.
 */
export class MonitorApi extends Construct {
  public readonly function: HandlerFunction;
  public readonly url: FunctionUrl;
  public readonly functionLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: MonitorApiProps) {
    super(scope, id);
    const logGroups = props.logGroups ?? [];
    this.function = new HandlerFunction(this, 'Function', {
      handler: 'monitor-api',
      memorySize: 512,
      // A function URL's caller waits at most 29 s for an answer.
      timeout: Duration.seconds(29),
      logRetention: props.logRetention,
      environment: {
        ...Object.fromEntries(
          Object.entries(props.tables).map(([name, t]) => [`TABLE_${name.toUpperCase()}`, t.tableName]),
        ),
        LOG_GROUPS: logGroups.map((g) => g.logGroupName).join(','),
      },
    });
    this.functionLogGroup = this.function.functionLogGroup;
    this.function.grantTables(
      props.tables,
      Object.fromEntries(Object.keys(props.tables).map((name) => [name, 'read'])),
    );
    if (logGroups.length > 0)
      this.function.executionRole.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['logs:FilterLogEvents'],
          resources: logGroups.map((g) => g.logGroupArn),
        }),
      );
    this.url = this.function.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });
    for (const invoker of props.invokers ?? []) this.grantInvokeUrl(invoker);

    suppress(this, [
      {
        id: 'Serverless-LambdaDLQ',
        reason:
          'Invoked synchronously through its function URL: the caller sees every failure, nothing is queued.',
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'The grants name the tables and log groups; their `index/*` and `:*` (log streams) suffixes are how ' +
          'DynamoDB and CloudWatch Logs scope reads of one table or group.',
      },
    ]);
  }

  /**
   * Lets `grantee` call the URL: `lambda:InvokeFunctionUrl` for AWS_IAM URLs and `lambda:InvokeFunction` when
   * invoked through a function URL. CDK's FunctionUrl.grantInvokeUrl grants both (aws-cdk-lib 2.276, pinned
   * here); the infrastructure tests hold it to both, so a CDK that changes it fails there rather than in AWS.
   */
  grantInvokeUrl(grantee: IGrantable): Grant {
    return this.url.grantInvokeUrl(grantee);
  }
}
