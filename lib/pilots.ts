import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type IVpc, SecurityGroup, type SubnetSelection, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  Cluster,
  type ContainerDefinition,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateTaskDefinition,
  LogDriver,
  OperatingSystemFamily,
} from 'aws-cdk-lib/aws-ecs';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { suppress } from './nag.ts';
import { repoRoot } from './paths.ts';

/** The container's name in the task definition: RunTask overrides address it by name. */
export const PILOT_CONTAINER = 'transformer';

export interface PilotsProps {
  readonly vpc: IVpc;
  /** @default PRIVATE_ISOLATED subnets */
  readonly subnets?: SubnetSelection;
  /** BROKER_URL of the pilots. */
  readonly brokerUrl: string;
  /** The broker credentials the transformer reads (BROKER_SECRET_ARN). */
  readonly brokerCredentials: ISecret;
  /** STF_STORE of the pilots (`s3://<bucket>`). */
  readonly stfStore: string;
  /** Task size when a run asks for nothing else (the worker adjuster overrides it per run). @default 1 vCPU, 2 GiB */
  readonly cpu?: number;
  /** @default 2048 MiB */
  readonly memoryMiB?: number;
}

/**
 * Pilots as ECS tasks: a Fargate cluster and the transformer's task definition, its image built from
 * `functions/transformer/Dockerfile` with the repository as context. The worker adjuster starts one task per
 * pilot with the run's settings as container overrides (see `layers/ecs/pilot-launcher.ts`).
 */
export class Pilots extends Construct {
  public readonly cluster: Cluster;
  public readonly taskDefinition: FargateTaskDefinition;
  public readonly container: ContainerDefinition;
  public readonly securityGroup: SecurityGroup;
  public readonly logGroup: LogGroup;
  private readonly subnets: SubnetSelection;

  constructor(scope: Construct, id: string, props: PilotsProps) {
    super(scope, id);
    this.subnets = props.subnets ?? { subnetType: SubnetType.PRIVATE_ISOLATED };
    this.cluster = new Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ContainerInsights.ENABLED,
    });
    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Pilots: out to the broker (STOMP+SSL) and the VPC endpoints only; nothing comes in',
      allowAllOutbound: true,
    });
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.taskDefinition = new FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: props.cpu ?? 1024,
      memoryLimitMiB: props.memoryMiB ?? 2048,
      // The image is built on the deploying machine, which is most often x86_64.
      runtimePlatform: {
        cpuArchitecture: CpuArchitecture.X86_64,
        operatingSystemFamily: OperatingSystemFamily.LINUX,
      },
    });
    this.container = this.taskDefinition.addContainer(PILOT_CONTAINER, {
      containerName: PILOT_CONTAINER,
      image: ContainerImage.fromAsset(repoRoot, {
        file: 'functions/transformer/Dockerfile',
        platform: Platform.LINUX_AMD64,
      }),
      environment: {
        BROKER_URL: props.brokerUrl,
        BROKER_SECRET_ARN: props.brokerCredentials.secretArn,
        STF_STORE: props.stfStore,
        AWS_REGION: Stack.of(this).region,
      },
      logging: LogDriver.awsLogs({ streamPrefix: 'pilot', logGroup: this.logGroup }),
      // SIGTERM asks the transformer to finish its slice and send transformer_end: give it the most Fargate allows.
      stopTimeout: Duration.seconds(120),
    });
    props.brokerCredentials.grantRead(this.taskDefinition.taskRole);

    suppress(this.taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'The environment holds no secret: the broker URL, the ARN of the credentials secret (the transformer ' +
          'reads the secret itself), the bucket URL and the region.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken, which the execution role needs to pull the image, takes no resource.',
      },
    ]);
  }

  /** The pilots' subnet ids, security groups and names, as `ecsPilotLauncherFromEnv` reads them. */
  launcherEnvironment(): Record<string, string> {
    return {
      PILOT_CLUSTER: this.cluster.clusterArn,
      PILOT_TASK_DEFINITION: this.taskDefinition.taskDefinitionArn,
      PILOT_CONTAINER: PILOT_CONTAINER,
      PILOT_SUBNETS: this.cluster.vpc.selectSubnets(this.subnets).subnetIds.join(','),
      PILOT_SECURITY_GROUPS: this.securityGroup.securityGroupId,
    };
  }

  /**
   * What the worker adjuster does with pilots: run this task definition on this cluster (tagging the tasks),
   * list, describe and stop the cluster's tasks, and pass the task's two roles to ECS. RunTask names the current
   * revision: a deployment updates it and the adjuster's PILOT_TASK_DEFINITION together.
   */
  grantLaunch(grantee: IGrantable): void {
    // ECS takes a task ARN for these, but task ids are only known once running: "*" held to the cluster.
    const onCluster = { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } };
    const statements = [
      new PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [this.taskDefinition.taskDefinitionArn],
        conditions: onCluster,
      }),
      new PolicyStatement({
        actions: ['ecs:StopTask', 'ecs:DescribeTasks', 'ecs:ListTasks'],
        resources: ['*'],
        conditions: onCluster,
      }),
      new PolicyStatement({
        actions: ['ecs:TagResource'],
        resources: ['*'],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
      }),
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.taskDefinition.taskRole.roleArn, this.taskDefinition.obtainExecutionRole().roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    ];
    for (const s of statements) grantee.grantPrincipal.addToPrincipalPolicy(s);
  }
}
