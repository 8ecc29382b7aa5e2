import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Role } from 'aws-cdk-lib/aws-iam';
import type { Construct, Node } from 'constructs';
import { amazonMqConfiguration } from '#routes/broker-config.ts';
import { RESULT_QUEUES_ENV, type ResultQueues, resultQueueCounts, routeTable } from '#routes/route-table.ts';
import { type TableName, tables as tableDefinitions } from '#tables/definitions.ts';
import { Broker, type DeploymentMode, deploymentModes } from './broker.ts';
import { Handlers } from './handlers.ts';
import { MonitorApi } from './monitor-api.ts';
import { Network } from './network.ts';
import { outputKeys } from './outputs.ts';
import { PilotWatchdog } from './pilot-watchdog.ts';
import { Pilots } from './pilots.ts';
import { StfBucket } from './stf-bucket.ts';
import { Tables } from './tables.ts';

export { outputKeys };

/**
 * The stack's settings from CDK context (cdk.json or `-c key=value`): `brokerDeployment` (SINGLE_INSTANCE or
 * ACTIVE_STANDBY_MULTI_AZ), `brokerInstanceType`, `monitorInvokerRoleArns` (comma-separated) and
 * `interfaceEndpointsInEveryAz` (true or false), `resultQueues` (1, 2, 5 or 10).
 */
export function stackPropsFromContext(node: Node): TestbedStackProps {
  const text = (key: string): string | undefined => {
    const v = node.tryGetContext(key);
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const deployment = text('brokerDeployment') ?? 'SINGLE_INSTANCE';
  if (!deploymentModes.includes(deployment as DeploymentMode)) {
    throw new Error(
      `Context brokerDeployment must be one of ${deploymentModes.join(', ')}, not ${deployment}.`,
    );
  }
  const instanceType = text('brokerInstanceType');
  // -c gives a string, cdk.json may give a boolean.
  const everyAzValue = node.tryGetContext('interfaceEndpointsInEveryAz');
  if (everyAzValue !== undefined && !['true', 'false'].includes(String(everyAzValue))) {
    throw new Error(`Context interfaceEndpointsInEveryAz must be true or false, not ${everyAzValue}.`);
  }
  const everyAz = everyAzValue === undefined ? undefined : String(everyAzValue) === 'true';
  const invokers = text('monitorInvokerRoleArns')
    ?.split(',')
    .map((arn) => arn.trim())
    .filter((arn) => arn !== '');
  const resultQueues = text('resultQueues');
  if (resultQueues !== undefined && !resultQueueCounts.includes(Number(resultQueues) as ResultQueues)) {
    throw new Error(
      `Context resultQueues must be one of ${resultQueueCounts.join(', ')}, not ${resultQueues}.`,
    );
  }
  return {
    ...(resultQueues && { resultQueues: Number(resultQueues) as ResultQueues }),
    brokerDeployment: deployment as DeploymentMode,
    ...(instanceType && { brokerInstanceType: instanceType }),
    ...(invokers && { monitorInvokerRoleArns: invokers }),
    ...(everyAz !== undefined && { interfaceEndpointsInEveryAz: everyAz }),
  };
}

export interface TestbedStackProps extends StackProps {
  /** @default 'SINGLE_INSTANCE' */
  readonly brokerDeployment?: DeploymentMode;
  /** @default mq.t3.micro single, mq.m5.large active/standby */
  readonly brokerInstanceType?: string;
  /**
   * ARNs of IAM roles that may call the monitor API: each gets both actions `MonitorApi.grantInvokeUrl` grants.
   * @default none
   */
  readonly monitorInvokerRoleArns?: readonly string[];
  /**
   * How many queues the broker spreads `slice_result` over, each with its own event source mapping on the
   * slice-result function: each mapping runs at most 5 concurrent invocations (bench/README.md, capacity model).
   * @default 1
   */
  readonly resultQueues?: ResultQueues;
  /**
   * Interface endpoints in every Availability Zone of the VPC rather than the broker's alone; functions and
   * pilots in another AZ reach them across AZs either way.
   * @default false for a single-instance broker (its one AZ), true for active/standby (both AZs)
   */
  readonly interfaceEndpointsInEveryAz?: boolean;
}

/** The testbed in one stack: network, broker, tables, STF bucket, pilots, handlers, and what the CLI reads. */
export class TestbedStack extends Stack {
  public readonly network: Network;
  public readonly broker: Broker;
  public readonly tables: Tables;
  public readonly stf: StfBucket;
  public readonly pilots: Pilots;
  public readonly handlers: Handlers;
  public readonly monitor: MonitorApi;
  public readonly pilotWatchdog: PilotWatchdog;

  constructor(scope: Construct, id: string, props: TestbedStackProps = {}) {
    super(scope, id, {
      description:
        'EIC streaming workflow testbed: Amazon MQ, DynamoDB, a Lambda per message type, ECS pilots',
      ...props,
    });
    const standby = props.brokerDeployment === 'ACTIVE_STANDBY_MULTI_AZ';
    const brokerAzs = standby ? 2 : 1;
    // A single broker is reached in its own AZ; the endpoints' other AZ would only serve cross-AZ callers.
    const everyAz = props.interfaceEndpointsInEveryAz ?? standby;
    this.network = new Network(this, 'Network', { ...(!everyAz && { interfaceEndpointAzs: brokerAzs }) });
    const vpc = this.network.vpc;
    // The route table, with slice_result spread when asked: the broker forwards by it and the mappings read it.
    const table = props.resultQueues ? routeTable(props.resultQueues) : undefined;
    this.broker = new Broker(this, 'Broker', {
      ...(table && { configurationXml: amazonMqConfiguration(table) }),
      vpc,
      subnets: this.network.subnetsInAzs(brokerAzs),
      ...(props.brokerDeployment && { deploymentMode: props.brokerDeployment }),
      ...(props.brokerInstanceType && { instanceType: props.brokerInstanceType }),
    });
    this.tables = new Tables(this, 'Tables');
    this.stf = new StfBucket(this, 'Stf');
    this.pilots = new Pilots(this, 'Pilots', {
      vpc,
      subnets: this.network.subnets,
      brokerUrl: this.broker.stompUrl,
      brokerCredentials: this.broker.credentials,
      stfStore: this.stf.location,
    });
    this.broker.allowStompFrom(this.pilots.securityGroup, 'Pilots');
    this.stf.grantRead(this.pilots.taskDefinition.taskRole);
    this.handlers = new Handlers(this, 'Handlers', {
      vpc,
      broker: this.broker,
      tables: this.tables,
      stf: this.stf,
      pilots: this.pilots,
      ...(table && { routes: table }),
    });

    this.network.allowEndpointsFrom(this.handlers.securityGroup, 'Handler functions');
    this.network.allowEndpointsFrom(this.pilots.securityGroup, 'Pilots');
    // Lambda's MQ pollers run with the broker's security group and call Lambda, STS and Secrets Manager.
    this.network.allowEndpointsFrom(this.broker, 'Lambda MQ pollers');
    // Lambda starts a mapping's poller as soon as the mapping exists: created before the broker's security group
    // lets the functions and pollers in, or before the endpoints (STS, Secrets Manager, Lambda) answer, it
    // starts with a connection error instead of reading its queue.
    for (const mapping of Object.values(this.handlers.mappings)) {
      mapping.node.addDependency(
        this.broker.securityGroup,
        this.network.endpointSecurityGroup,
        ...Object.values(this.network.interfaceEndpoints),
      );
    }

    this.pilotWatchdog = new PilotWatchdog(this, 'PilotWatchdog', {
      vpc,
      securityGroup: this.handlers.securityGroup,
      broker: this.broker,
      tables: this.tables,
      pilots: this.pilots,
    });
    // Its replay of parked messages lists the dead-letter queues of the route table it loads: the spread one.
    if (props.resultQueues)
      this.pilotWatchdog.function.addEnvironment(RESULT_QUEUES_ENV, String(props.resultQueues));
    this.monitor = new MonitorApi(this, 'Monitor', {
      tables: this.tables.byName,
      logGroups: [
        ...Object.values(this.handlers.functions).map((f) => f.functionLogGroup),
        this.handlers.daqSimulator.functionLogGroup,
        this.pilotWatchdog.function.functionLogGroup,
        this.pilots.logGroup,
      ],
      invokers: (props.monitorInvokerRoleArns ?? []).map((arn, i) =>
        Role.fromRoleArn(this, `MonitorInvoker${i + 1}`, arn),
      ),
    });

    const output = (key: string, value: string, description: string) =>
      new CfnOutput(this, key, { value, description });
    output(outputKeys.daqFunction, this.handlers.daqSimulator.functionName, 'Invoke to start a run');
    output(
      outputKeys.daqDeadLetterQueue,
      this.handlers.daqDeadLetterQueue.queueUrl,
      'Failed DAQ invocations',
    );
    output(outputKeys.brokerId, this.broker.broker.ref, 'Amazon MQ broker id');
    output(outputKeys.brokerUrl, this.broker.stompUrl, 'BROKER_URL (reachable from inside the VPC only)');
    output(
      outputKeys.brokerSecret,
      this.broker.credentials.secretArn,
      'BROKER_SECRET_ARN: {"username","password"}',
    );
    output(outputKeys.stfBucket, this.stf.bucket.bucketName, 'STF store (STF_STORE=s3://<bucket>)');
    output(outputKeys.pilotCluster, this.pilots.cluster.clusterName, 'ECS cluster the pilots run on');
    output(outputKeys.pilotLogGroup, this.pilots.logGroup.logGroupName, 'Pilot (transformer) logs');
    output(
      outputKeys.monitorApiUrl,
      this.monitor.url.url,
      'Monitor API: SigV4-signed GET (lambda:InvokeFunctionUrl and lambda:InvokeFunction)',
    );
    for (const name of Object.keys(tableDefinitions) as TableName[]) {
      output(outputKeys.table(name), this.tables.byName[name].tableName, `TABLE_${name.toUpperCase()}`);
    }
  }
}
