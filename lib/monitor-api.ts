import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type FunctionUrl, FunctionUrlAuthType, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { type ILogGroup, LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TableName } from '#tables/definitions.ts';
import { bundling } from './handler-function.ts';
import { suppress } from './nag.ts';
import { repoRoot } from './paths.ts';

export interface MonitorApiProps {
  /** The testbed's tables; the monitor reads them (never writes). */
  readonly tables: Readonly<Record<TableName, ITable>>;
  /** The log groups `/api/logs` reads: the handlers' and the pilots'. @default none (the logs query returns nothing) */
  readonly logGroups?: readonly ILogGroup[];
  /** @default one month */
  readonly logRetention?: RetentionDays;
}

/**
 * The monitor's read-only JSON API in AWS: `functions/monitor-api` behind a Lambda function URL with AWS_IAM
 * auth (callers sign with SigV4 and need lambda:InvokeFunctionUrl), the same query layer as `testbed up`'s API.
 * A function URL rather than API Gateway: one resource, IAM auth built in, and no stage or route to keep in
 * step with the routes the handler already knows. It runs outside the VPC: it reaches only DynamoDB and
 * CloudWatch Logs, with its role's credentials, and never the broker.
 */
export class MonitorApi extends Construct {
  public readonly function: NodejsFunction;
  public readonly url: FunctionUrl;
  public readonly functionLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: MonitorApiProps) {
    super(scope, id);
    this.functionLogGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // A role of its own: the default one carries AWSLambdaBasicExecutionRole, logs on every log group.
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Execution role of the monitor API (reads the tables and the logs)',
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.functionLogGroup.logGroupArn],
      }),
    );
    const logGroups = props.logGroups ?? [];
    if (logGroups.length > 0)
      role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['logs:FilterLogEvents'],
          resources: logGroups.map((g) => g.logGroupArn),
        }),
      );

    this.function = new NodejsFunction(this, 'Function', {
      entry: join(repoRoot, 'functions', 'monitor-api', 'handler.ts'),
      handler: 'handler',
      projectRoot: repoRoot,
      depsLockFilePath: join(repoRoot, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(29),
      role,
      logGroup: this.functionLogGroup,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        ...Object.fromEntries(
          Object.entries(props.tables).map(([name, t]) => [`TABLE_${name.toUpperCase()}`, t.tableName]),
        ),
        LOG_GROUPS: logGroups.map((g) => g.logGroupName).join(','),
      },
      bundling,
    });
    for (const table of Object.values(props.tables) as ITable[]) table.grantReadData(this.function);
    this.url = this.function.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });

    suppress(this, [
      ...['AwsSolutions-L1', 'Serverless-LambdaLatestVersion'].map((ruleId) => ({
        id: ruleId,
        reason: 'Node 22 on purpose: the handlers, the pilot image and the local stack run the same major.',
      })),
      {
        id: 'Serverless-LambdaTracing',
        reason: 'A read-only query API for a sandbox testbed: X-Ray would add cost per trace and no figure.',
      },
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
}
