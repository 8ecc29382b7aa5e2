import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '#log/metrics.ts';
import { TRANSIENT_FAILURES_ENV, type TransientFailures } from '#runtime/mq-handler.ts';
import type { TableName } from '#tables/definitions.ts';
import { lambdaEsbuildOptions as esbuildOptions } from '../functions/bundling.ts';
import { suppress } from './nag.ts';
import { repoRoot } from './paths.ts';

/**
 * What a function may do with one table's items: `read` (Get, Query, Scan, BatchGet), `put` (PutItem and
 * BatchWriteItem only, an append-only log) or `write` (read, and every item write).
 */
export type TableAccess = 'read' | 'put' | 'write';

export interface HandlerFunctionProps {
  /** The folder under `functions/` whose `handler.ts` exports `handler`. */
  readonly handler: string;
  /**
   * The VPC whose isolated subnets the function runs in, and the security group its network interfaces get
   * (the broker lets it in on STOMP+SSL). @default outside any VPC (LocalStack, where the broker is local)
   */
  readonly network?: { readonly vpc: IVpc; readonly securityGroup: ISecurityGroup };
  /** @default 256 MB: the handlers wait on the broker and DynamoDB, not on the CPU */
  readonly memorySize?: number;
  /** @default 60 s */
  readonly timeout?: Duration;
  /** Added to the baked-in NODE_OPTIONS, TRANSIENT_FAILURES and POWERTOOLS_* (and may override them). @default none */
  readonly environment?: Record<string, string>;
  /** Where failed asynchronous invocations go. @default none (queue-driven functions are invoked synchronously) */
  readonly deadLetterQueue?: IQueue;
  /** @default one month */
  readonly logRetention?: RetentionDays;
  /** @default ARM_64 (cheaper per GB-second; the bundle is plain JavaScript) */
  readonly architecture?: Architecture;
  /**
   * What mqHandler does with a batch that keeps failing for a transient reason (TRANSIENT_FAILURES):
   * `park` retries it briefly, then parks its messages with `dlq_transient` for the scheduled replay;
   * `throw` leaves it to the poller's redelivery, after which the broker parks it without a reason.
   * @default 'park': a broker-parked message is indistinguishable from poison, and nothing would replay it
   */
  readonly transientFailures?: TransientFailures;
}

/** How every function is bundled: as functions/bundling.ts says, by the esbuild on this machine. */
export const bundling: BundlingOptions = {
  // esbuild is a dev dependency: bundle on this machine, never in a Docker image.
  forceDockerBundling: false,
  format: OutputFormat.ESM,
  target: esbuildOptions.target,
  mainFields: esbuildOptions.mainFields,
  minify: esbuildOptions.minify,
  sourceMap: esbuildOptions.sourcemap,
  sourcesContent: esbuildOptions.sourcesContent,
  tsconfig: esbuildOptions.tsconfig,
  // The local stack and the credential links Lambda never reaches stay out (functions/bundling.ts); the SDK
  // is bundled, not taken from the runtime: the versions tested are the versions deployed.
  externalModules: esbuildOptions.external,
  banner: esbuildOptions.banner.js,
};

/**
 * A handler of `functions/` as a Lambda function with the project's defaults baked in, once: Node 22 on arm64,
 * bundled locally by esbuild (minified, ESM, source maps), its own log group, in the VPC's isolated subnets
 * (when given one), and a role of its own that holds only what the function is granted (no managed policies).
 */
export class HandlerFunction extends NodejsFunction {
  /** Its own log group (the one `logGroup` returns), a month's retention. */
  public readonly functionLogGroup: LogGroup;
  public readonly executionRole: Role;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Our own role instead of the default one: the default would carry the AWSLambdaBasicExecutionRole and
    // AWSLambdaVPCAccessExecutionRole managed policies, which grant logs on every log group.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${props.handler} handler`,
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    // What Lambda needs to attach the function to the VPC; EC2 takes no resource ARN for the Describe calls.
    if (props.network) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }

    super(scope, id, {
      entry: join(repoRoot, 'functions', props.handler, 'handler.ts'),
      handler: 'handler',
      projectRoot: repoRoot,
      depsLockFilePath: join(repoRoot, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: props.architecture ?? Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(60),
      role,
      logGroup,
      ...(props.network && {
        vpc: props.network.vpc,
        vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
        securityGroups: [props.network.securityGroup],
      }),
      ...(props.deadLetterQueue && { deadLetterQueue: props.deadLetterQueue }),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        [TRANSIENT_FAILURES_ENV]: props.transientFailures ?? 'park',
        // The `service` of its log lines and the dimension of its metrics (layers/log/): the handler, the
        // same in every deployment, where the function's name changes with the stack.
        POWERTOOLS_SERVICE_NAME: props.handler,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
      bundling,
    });
    this.functionLogGroup = logGroup;
    this.executionRole = role;
    suppress(role, [
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Only actions that take no resource ARN have "*": the EC2 network interface actions of a function in a ' +
          'VPC and of its MQ poller, and for the worker adjuster ecs:ListTasks, DescribeTasks, StopTask and ' +
          'TagResource, each held to the pilot cluster (or to RunTask) by a condition.',
      },
    ]);
    suppress(this, [
      ...['AwsSolutions-L1', 'Serverless-LambdaLatestVersion'].map((ruleId) => ({
        id: ruleId,
        reason:
          'Node 22 on purpose: the pilot image (node:22) and the local runner run the same code on the same major.',
      })),
      {
        id: 'Serverless-LambdaTracing',
        reason:
          'Latency is what the testbed measures, with its own timestamps in every message and result; X-Ray ' +
          'would add an endpoint and a cost per trace for no other figure.',
      },
    ]);
  }

  /** Grants each table's items as `access` says (never table management). */
  grantTables(
    tables: Readonly<Record<TableName, ITable>>,
    access: Partial<Record<TableName, TableAccess>>,
  ): void {
    for (const [name, level] of Object.entries(access) as [TableName, TableAccess][]) {
      const table = tables[name];
      if (level === 'write') table.grantReadWriteData(this);
      else if (level === 'put') table.grant(this, 'dynamodb:PutItem', 'dynamodb:BatchWriteItem');
      else table.grantReadData(this);
    }
  }

  /** Lets the function invoke itself asynchronously (the DAQ simulator chains its long runs). */
  grantSelfInvoke(): void {
    // A policy of its own, not a statement on the role's default policy: the function depends on its role, and
    // a role statement naming the function would close the circle.
    new Policy(this, 'SelfInvoke', {
      roles: [this.executionRole],
      statements: [
        new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.functionArn] }),
      ],
    });
  }
}
