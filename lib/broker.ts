import { ArnFormat, Fn, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { CfnBroker, CfnConfiguration } from 'aws-cdk-lib/aws-amazonmq';
import {
  Connections,
  type IConnectable,
  type IVpc,
  Port,
  SecurityGroup,
  type SubnetSelection,
  SubnetType,
} from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { ResourcePolicy } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { amazonMqConfiguration } from '#routes/broker-config.ts';
import { suppress } from './nag.ts';

/** An ActiveMQ engine version Amazon MQ runs (from 5.18 on, major.minor: patches come automatically). */
export class EngineVersion {
  /** 5.17 is out of support on Amazon MQ. */
  static readonly V5_18 = new EngineVersion('5.18');

  /** Any other version Amazon MQ offers, e.g. `EngineVersion.of('6.0')`. */
  static of(version: string): EngineVersion {
    return new EngineVersion(version);
  }

  private constructor(public readonly version: string) {}
}

export type DeploymentMode = 'SINGLE_INSTANCE' | 'ACTIVE_STANDBY_MULTI_AZ';
export const deploymentModes: readonly DeploymentMode[] = ['SINGLE_INSTANCE', 'ACTIVE_STANDBY_MULTI_AZ'];

/** The instance type Amazon MQ offers for a single-instance broker only. */
export const SINGLE_ONLY_INSTANCE_TYPE = 'mq.t3.micro';

/** STOMP over TLS, what handlers, pilots and the CLI speak. */
export const STOMP_SSL_PORT = 61614;
/** OpenWire over TLS, what Lambda's MQ pollers speak. */
export const OPENWIRE_SSL_PORT = 61617;

export interface BrokerProps {
  readonly vpc: IVpc;
  /** @default PRIVATE_ISOLATED subnets */
  readonly subnets?: SubnetSelection;
  /** @default EngineVersion.V5_18 */
  readonly engineVersion?: EngineVersion;
  /** @default 'SINGLE_INSTANCE' */
  readonly deploymentMode?: DeploymentMode;
  /**
   * @default mq.t3.micro for a single instance (the cheapest; at most 300 connections per protocol), mq.m5.large
   * for active/standby (mq.t3.micro has no standby)
   */
  readonly instanceType?: string;
  /** The `<broker>` element Amazon MQ takes. @default amazonMqConfiguration(), generated from the route table */
  readonly configurationXml?: string;
  /** The broker user; its password is generated into the credentials secret. @default 'testbed' */
  readonly username?: string;
}

/**
 * Amazon MQ for ActiveMQ in the VPC's private subnets, not publicly accessible, general and audit logs on,
 * its configuration generated from the route table, its one user's credentials in a generated Secrets
 * Manager secret (`{"username", "password"}`, what the handlers and the MQ event source mappings read).
 */
export class Broker extends Construct implements IConnectable {
  public readonly broker: CfnBroker;
  public readonly configuration: CfnConfiguration;
  public readonly credentials: ISecret;
  public readonly securityGroup: SecurityGroup;
  public readonly connections: Connections;
  public readonly deploymentMode: DeploymentMode;
  public readonly engineVersion: EngineVersion;
  public readonly brokerArn: string;
  /** `failover:(stomp+ssl://…:61614[,…])`: both instances of an active/standby pair, as BROKER_URL takes it. */
  public readonly stompUrl: string;

  constructor(scope: Construct, id: string, props: BrokerProps) {
    super(scope, id);
    this.deploymentMode = props.deploymentMode ?? 'SINGLE_INSTANCE';
    if (!deploymentModes.includes(this.deploymentMode)) {
      throw new Error(
        `Broker deploymentMode must be one of ${deploymentModes.join(', ')}, not ${this.deploymentMode}.`,
      );
    }
    this.engineVersion = props.engineVersion ?? EngineVersion.V5_18;
    const standby = this.deploymentMode === 'ACTIVE_STANDBY_MULTI_AZ';
    const instanceType = props.instanceType ?? (standby ? 'mq.m5.large' : 'mq.t3.micro');
    // Amazon MQ refuses the pair only when the broker is created, twenty minutes into a deployment.
    if (standby && instanceType === SINGLE_ONLY_INSTANCE_TYPE) {
      throw new Error(
        `Broker instanceType ${instanceType} (context brokerInstanceType) has no active/standby pair on Amazon MQ: ` +
          'with deploymentMode ACTIVE_STANDBY_MULTI_AZ (context brokerDeployment) choose a larger instance type ' +
          '(the default, mq.m5.large), or deploy SINGLE_INSTANCE.',
      );
    }
    const username = props.username ?? 'testbed';
    const stack = Stack.of(this);

    const credentials = new Secret(this, 'Credentials', {
      description: `Amazon MQ user of ${stack.stackName}: {"username", "password"}`,
      removalPolicy: RemovalPolicy.DESTROY,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username }),
        generateStringKey: 'password',
        passwordLength: 32,
        // Amazon MQ refuses commas, colons and equal signs; letters and digits also need no escaping anywhere.
        excludePunctuation: true,
      },
    });
    suppress(credentials, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Amazon MQ keeps its own copy of the password: a rotated secret would lock the handlers out until the ' +
          'broker user is updated and the broker rebooted. Rotate by redeploying with a new secret.',
      },
    ]);
    this.credentials = credentials;

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description:
        'Amazon MQ broker: STOMP+SSL from the handlers and pilots, OpenWire+SSL from the MQ pollers',
      allowAllOutbound: true,
    });
    this.connections = new Connections({
      securityGroups: [this.securityGroup],
      defaultPort: Port.tcp(STOMP_SSL_PORT),
    });
    // Lambda's MQ pollers run in the broker's subnets with the broker's security group.
    this.securityGroup.addIngressRule(this.securityGroup, Port.tcp(OPENWIRE_SSL_PORT), 'Lambda MQ pollers');

    this.configuration = new CfnConfiguration(this, 'Configuration', {
      name: Names.uniqueResourceName(this, { maxLength: 150, separator: '-' }),
      description:
        'Generated from the route table: topic forwarding per msg_type, queues, dead-letter policy',
      engineType: 'ACTIVEMQ',
      engineVersion: this.engineVersion.version,
      authenticationStrategy: 'SIMPLE',
      data: Buffer.from(props.configurationXml ?? amazonMqConfiguration(), 'utf8').toString('base64'),
    });

    // Amazon MQ writes its logs through a CloudWatch Logs resource policy, not a role.
    const logsPolicy = new ResourcePolicy(this, 'LogsPolicy', {
      resourcePolicyName: `${Names.uniqueResourceName(this, { maxLength: 200 })}-amazonmq-logs`,
      policyStatements: [
        new PolicyStatement({
          principals: [new ServicePrincipal('mq.amazonaws.com')],
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [
            stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '/aws/amazonmq/*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      ],
    });

    const subnetIds = props.vpc.selectSubnets(
      props.subnets ?? { subnetType: SubnetType.PRIVATE_ISOLATED },
    ).subnetIds;
    this.broker = new CfnBroker(this, 'Resource', {
      brokerName: Names.uniqueResourceName(this, { maxLength: 50, separator: '-' }),
      engineType: 'ACTIVEMQ',
      engineVersion: this.engineVersion.version,
      // Required from 5.18 on: Amazon MQ applies patch releases itself in the maintenance window.
      autoMinorVersionUpgrade: true,
      deploymentMode: this.deploymentMode,
      hostInstanceType: instanceType,
      publiclyAccessible: false,
      subnetIds: subnetIds.slice(0, standby ? 2 : 1),
      securityGroups: [this.securityGroup.securityGroupId],
      authenticationStrategy: 'SIMPLE',
      configuration: { id: this.configuration.attrId, revision: this.configuration.attrRevision },
      logs: { general: true, audit: true },
      maintenanceWindowStartTime: { dayOfWeek: 'SUNDAY', timeOfDay: '03:00', timeZone: 'UTC' },
      users: [
        {
          username,
          password: credentials.secretValueFromJson('password').unsafeUnwrap(),
          consoleAccess: false,
        },
      ],
    });
    this.broker.node.addDependency(logsPolicy);
    this.brokerArn = this.broker.attrArn;
    this.stompUrl = Fn.join('', ['failover:(', Fn.join(',', this.broker.attrStompEndpoints), ')']);
    if (!standby) {
      suppress(this.broker, [
        {
          id: 'AwsSolutions-MQ3',
          reason:
            'A sandbox testbed runs a single instance by default (an active/standby pair needs two mq.m5.large ' +
            'instances, many times the price); deploy with -c brokerDeployment=ACTIVE_STANDBY_MULTI_AZ for a standby.',
        },
      ]);
    }
  }

  /** Lets a peer (a function's or the pilots' security group) connect with STOMP over TLS. */
  allowStompFrom(peer: IConnectable, description: string): void {
    this.connections.allowFrom(peer, Port.tcp(STOMP_SSL_PORT), description);
  }
}
