import { RemovalPolicy } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  type IConnectable,
  type InterfaceVpcEndpoint,
  InterfaceVpcEndpointAwsService,
  type IVpc,
  Port,
  SecurityGroup,
  type SubnetSelection,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  /**
   * An existing VPC with PRIVATE_ISOLATED subnets in two Availability Zones; the endpoints are added to it.
   * @default a new VPC
   */
  readonly vpc?: IVpc;
  /** Availability Zones of a new VPC (an active/standby broker needs two). @default 2 */
  readonly maxAzs?: number;
  /**
   * How many of the VPC's Availability Zones, the first ones (where `subnetsInAzs` puts the broker), the
   * interface endpoints serve: each endpoint is billed per AZ-hour. @default every AZ of the VPC
   */
  readonly interfaceEndpointAzs?: number;
}

/**
 * Interface endpoints, each with who needs it. Nothing in the VPC reaches the internet (no NAT gateway, no
 * internet gateway): every AWS API the functions, the MQ pollers and the pilots call has an endpoint here.
 */
export const interfaceEndpoints = {
  SecretsManager: {
    service: InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    why: 'broker credentials: handlers, pilots and the MQ pollers',
  },
  Lambda: {
    service: InterfaceVpcEndpointAwsService.LAMBDA,
    why: 'the MQ pollers invoke the handlers; the DAQ simulator chains itself',
  },
  Sts: { service: InterfaceVpcEndpointAwsService.STS, why: 'the MQ pollers assume the function roles' },
  Ecs: { service: InterfaceVpcEndpointAwsService.ECS, why: 'the worker adjuster runs and stops pilot tasks' },
  EcrApi: {
    service: InterfaceVpcEndpointAwsService.ECR,
    why: 'Fargate pulls the pilot image (registry API)',
  },
  EcrDocker: {
    service: InterfaceVpcEndpointAwsService.ECR_DOCKER,
    why: 'Fargate pulls the pilot image (layers)',
  },
  Logs: { service: InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS, why: "the pilots' awslogs driver" },
} as const;

/**
 * The VPC everything runs in: isolated private subnets only, gateway endpoints for DynamoDB and S3 (free),
 * interface endpoints for the other AWS APIs, so the broker needs no public address and nothing needs a NAT.
 */
export class Network extends Construct {
  public readonly vpc: IVpc;
  /** The subnets functions, broker and pilots use. */
  public readonly subnets: SubnetSelection = { subnetType: SubnetType.PRIVATE_ISOLATED };
  /** Guards the interface endpoints: HTTPS from the security groups let in with `allowEndpointsFrom`. */
  public readonly endpointSecurityGroup: SecurityGroup;
  /** By name (the keys of `interfaceEndpoints`). */
  public readonly interfaceEndpoints: Readonly<Record<string, InterfaceVpcEndpoint>>;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    if (props.vpc && props.maxAzs !== undefined) {
      throw new Error('Network takes either an existing vpc or maxAzs for a new one, not both.');
    }
    this.vpc = props.vpc ?? this.newVpc(props.maxAzs ?? 2);

    this.vpc.addGatewayEndpoint('DynamoDb', {
      service: GatewayVpcEndpointAwsService.DYNAMODB,
      subnets: [this.subnets],
    });
    // S3 also carries the ECR image layers.
    this.vpc.addGatewayEndpoint('S3', { service: GatewayVpcEndpointAwsService.S3, subnets: [this.subnets] });

    this.endpointSecurityGroup = new SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Interface endpoints: HTTPS from the handlers, the MQ pollers and the pilots',
      allowAllOutbound: false,
    });
    const subnets = this.subnetsInAzs(props.interfaceEndpointAzs ?? this.subnetsPerAz().length);
    this.interfaceEndpoints = Object.fromEntries(
      Object.entries(interfaceEndpoints).map(([name, endpoint]) => [
        name,
        this.vpc.addInterfaceEndpoint(name, {
          service: endpoint.service,
          subnets,
          privateDnsEnabled: true,
          securityGroups: [this.endpointSecurityGroup],
          open: false,
        }),
      ]),
    );
  }

  /**
   * One of `subnets` in each of the VPC's first `count` Availability Zones: where the broker sits (one for a
   * single instance, two for an active/standby pair) and the interface endpoints that serve it.
   */
  subnetsInAzs(count: number): SubnetSelection {
    const perAz = this.subnetsPerAz();
    if (!Number.isInteger(count) || count < 1 || count > perAz.length) {
      throw new Error(
        `Network: ${count} Availability Zones asked for, but the VPC's private subnets are in ${perAz.length}.`,
      );
    }
    return { subnets: perAz.slice(0, count) };
  }

  private subnetsPerAz() {
    return this.vpc.selectSubnets({ ...this.subnets, onePerAz: true }).subnets;
  }

  /** Lets a peer (a security group) call the AWS APIs behind the interface endpoints. */
  allowEndpointsFrom(peer: IConnectable, description: string): void {
    this.endpointSecurityGroup.connections.allowFrom(peer, Port.tcp(443), description);
  }

  private newVpc(maxAzs: number): Vpc {
    const vpc = new Vpc(this, 'Vpc', {
      maxAzs,
      natGateways: 0,
      subnetConfiguration: [{ name: 'private', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
    });
    // Rejected traffic only: what a missing security group rule looks like, at a fraction of the log volume.
    vpc.addFlowLog('FlowLog', {
      trafficType: FlowLogTrafficType.REJECT,
      destination: FlowLogDestination.toCloudWatchLogs(
        new LogGroup(this, 'FlowLogGroup', {
          retention: RetentionDays.ONE_WEEK,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      ),
    });
    return vpc;
  }
}
