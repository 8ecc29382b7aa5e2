import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { beforeAll, describe, expect, it, test } from 'vitest';
import { amazonMqConfiguration } from '#routes/broker-config.ts';
import { Broker, type DeploymentMode, EngineVersion } from '../../lib/broker.ts';
import { stackPropsFromContext } from '../../lib/testbed-stack.ts';
import { logicalIdOf, type Synthesized, synthTestbed } from './support/stack.ts';

let s: Synthesized;
beforeAll(() => {
  s = synthTestbed();
});

/** A broker alone in a VPC: enough to look at a deployment mode without the whole stack. */
function bareBroker(deploymentMode: DeploymentMode, instanceType?: string): Template {
  const stack = new Stack(new App(), 'Bare');
  const vpc = new Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'private', subnetType: SubnetType.PRIVATE_ISOLATED }],
  });
  new Broker(stack, 'Broker', { vpc, deploymentMode, ...(instanceType && { instanceType }) });
  return Template.fromStack(stack);
}

describe('Construct: Broker', () => {
  it('runs ActiveMQ 5.18 with minor versions applied by Amazon MQ', () => {
    // Prepare
    const t = s.template;

    // Act
    const broker = Object.values(t.findResources('AWS::AmazonMQ::Broker'))[0]?.Properties;

    // Assess
    expect(broker).toMatchObject({
      EngineType: 'ACTIVEMQ',
      EngineVersion: '5.18',
      AutoMinorVersionUpgrade: true,
    });
    t.hasResourceProperties('AWS::AmazonMQ::Configuration', {
      EngineType: 'ACTIVEMQ',
      EngineVersion: '5.18',
    });
  });

  it('uses a configuration that, base64-decoded, is the XML generated from the route table', () => {
    // Prepare
    const configuration = Object.values(s.template.findResources('AWS::AmazonMQ::Configuration'))[0];

    // Act
    const xml = Buffer.from(configuration?.Properties.Data as string, 'base64').toString('utf8');

    // Assess
    expect(xml).toBe(amazonMqConfiguration());
  });

  it('runs the configuration it creates, at its current revision', () => {
    // Prepare
    const configuration = logicalIdOf(s.stack.broker.configuration);

    // Act
    const broker = Object.values(s.template.findResources('AWS::AmazonMQ::Broker'))[0]?.Properties;

    // Assess
    expect(broker.Configuration).toEqual({
      Id: { 'Fn::GetAtt': [configuration, 'Id'] },
      Revision: { 'Fn::GetAtt': [configuration, 'Revision'] },
    });
  });

  it('is not publicly accessible, sits in one private subnet and logs general and audit events', () => {
    // Prepare
    const t = s.template;

    // Act
    const broker = Object.values(t.findResources('AWS::AmazonMQ::Broker'))[0]?.Properties;

    // Assess
    expect(broker).toMatchObject({
      PubliclyAccessible: false,
      DeploymentMode: 'SINGLE_INSTANCE',
      HostInstanceType: 'mq.t3.micro',
      Logs: { General: true, Audit: true },
    });
    expect(broker.SubnetIds).toHaveLength(1);
    // Amazon MQ writes its logs through a CloudWatch Logs resource policy for its service principal.
    const policies = JSON.stringify(t.findResources('AWS::Logs::ResourcePolicy'));
    expect(policies).toContain('\\"Service\\":\\"mq.amazonaws.com\\"');
    expect(policies).toContain(':log-group:/aws/amazonmq/*');
  });

  it('takes its one user from a generated secret, the one the mappings and the handlers read', () => {
    // Prepare
    const secret = logicalIdOf(s.stack.broker.credentials);

    // Act
    const broker = Object.values(s.template.findResources('AWS::AmazonMQ::Broker'))[0]?.Properties;
    const generated = s.template.toJSON().Resources[secret].Properties.GenerateSecretString;

    // Assess
    expect(broker.Users).toEqual([
      {
        Username: 'testbed',
        Password: {
          'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secret }, ':SecretString:password::}}']],
        },
        ConsoleAccess: false,
      },
    ]);
    expect(generated).toMatchObject({
      SecretStringTemplate: '{"username":"testbed"}',
      GenerateStringKey: 'password',
      ExcludePunctuation: true,
    });
  });

  it('lets the handlers and the pilots in on STOMP+SSL and the MQ pollers (its own group) on OpenWire+SSL', () => {
    // Prepare
    const group = logicalIdOf(s.stack.broker.securityGroup);

    // Act
    const ingress = Object.values(s.template.findResources('AWS::EC2::SecurityGroupIngress'))
      .filter((r) => r.Properties.GroupId['Fn::GetAtt']?.[0] === group)
      .map((r) => [r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0], r.Properties.FromPort]);

    // Assess
    expect(ingress.sort()).toEqual(
      [
        [group, 61617],
        [logicalIdOf(s.stack.handlers.securityGroup), 61614],
        [logicalIdOf(s.stack.pilots.securityGroup), 61614],
      ].sort(),
    );
  });

  it('runs an active/standby pair of mq.m5.large in two subnets when asked to', () => {
    // Prepare
    const mode: DeploymentMode = 'ACTIVE_STANDBY_MULTI_AZ';

    // Act
    const t = bareBroker(mode);

    // Assess
    const broker = Object.values(t.findResources('AWS::AmazonMQ::Broker'))[0]?.Properties;
    expect(broker).toMatchObject({ DeploymentMode: mode, HostInstanceType: 'mq.m5.large' });
    expect(broker.SubnetIds).toHaveLength(2);
  });

  it('refuses at synth time an active/standby pair of mq.t3.micro, naming both settings', () => {
    // Prepare
    const mode: DeploymentMode = 'ACTIVE_STANDBY_MULTI_AZ';

    // Act
    const synth = () => bareBroker(mode, 'mq.t3.micro');

    // Assess
    expect(synth).toThrow(
      /instanceType mq\.t3\.micro \(context brokerInstanceType\) has no active\/standby pair.*deploymentMode ACTIVE_STANDBY_MULTI_AZ \(context brokerDeployment\)/,
    );
    expect(() => bareBroker('SINGLE_INSTANCE', 'mq.t3.micro')).not.toThrow();
  });

  it('has no rule for the ActiveMQ web console (8162): with no user given console access, the console is off', () => {
    // Prepare
    const group = logicalIdOf(s.stack.broker.securityGroup);

    // Act
    const ports = Object.values(s.template.findResources('AWS::EC2::SecurityGroupIngress'))
      .filter((r) => r.Properties.GroupId['Fn::GetAtt']?.[0] === group)
      .map((r) => r.Properties.FromPort);

    // Assess
    expect(ports).not.toContain(8162);
    expect(ports.length).toBeGreaterThan(0);
  });

  it('takes the deployment mode from the brokerDeployment context value', () => {
    // Prepare
    const app = new App({ context: { brokerDeployment: 'ACTIVE_STANDBY_MULTI_AZ' } });

    // Act
    const props = stackPropsFromContext(app.node);

    // Assess
    expect(props.brokerDeployment).toBe('ACTIVE_STANDBY_MULTI_AZ');
    expect(stackPropsFromContext(new App().node).brokerDeployment).toBe('SINGLE_INSTANCE');
  });

  test.each(['CLUSTER_MULTI_AZ', 'single_instance', 'ACTIVE'])(
    'refuses the brokerDeployment %j in one sentence',
    (mode) => {
      // Prepare
      const app = new App({ context: { brokerDeployment: mode } });

      // Act
      const read = () => stackPropsFromContext(app.node);

      // Assess
      expect(read).toThrow(
        `Context brokerDeployment must be one of SINGLE_INSTANCE, ACTIVE_STANDBY_MULTI_AZ, not ${mode}.`,
      );
    },
  );

  it('names engine versions as values, 5.18 unless told otherwise', () => {
    // Prepare
    const other = EngineVersion.of('6.0');

    // Act
    const versions = [EngineVersion.V5_18.version, other.version];

    // Assess
    expect(versions).toEqual(['5.18', '6.0']);
    expect(s.stack.broker.engineVersion).toBe(EngineVersion.V5_18);
  });
});
