import { App, Stack } from 'aws-cdk-lib';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { interfaceEndpoints, Network } from '../../lib/network.ts';
import { logicalIdOf, type Synthesized, synthTestbed } from './support/stack.ts';

let s: Synthesized;
beforeAll(() => {
  s = synthTestbed();
});

/** `com.amazonaws.<region>.ecr.api` -> `ecr.api` */
// biome-ignore lint/suspicious/noExplicitAny: a template resource is untyped JSON.
const serviceOf = (endpoint: Record<string, any>): string =>
  String(endpoint.Properties.ServiceName['Fn::Join'][1].at(-1)).replace(/^\./, '');

describe('Construct: Network', () => {
  it('keeps every subnet private: no internet gateway, no NAT gateway, no public IP', () => {
    // Prepare
    const t = s.template;

    // Act
    const subnets = Object.values(t.findResources('AWS::EC2::Subnet'));

    // Assess
    t.resourceCountIs('AWS::EC2::InternetGateway', 0);
    t.resourceCountIs('AWS::EC2::NatGateway', 0);
    expect(subnets).toHaveLength(2);
    for (const subnet of subnets) expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
  });

  it('reaches DynamoDB and S3 through gateway endpoints', () => {
    // Prepare
    const gateways = Object.values(s.template.findResources('AWS::EC2::VPCEndpoint')).filter(
      (e) => e.Properties.VpcEndpointType === 'Gateway',
    );

    // Act
    const services = gateways.map(serviceOf).sort();

    // Assess
    expect(services).toEqual(['dynamodb', 's3']);
  });

  it('reaches every other AWS API the functions, MQ pollers and pilots call through a private interface endpoint', () => {
    // Prepare
    const interfaces = Object.values(s.template.findResources('AWS::EC2::VPCEndpoint')).filter(
      (e) => e.Properties.VpcEndpointType === 'Interface',
    );

    // Act
    const services = interfaces.map(serviceOf).sort();

    // Assess
    expect(services).toEqual(['ecr.api', 'ecr.dkr', 'ecs', 'lambda', 'logs', 'secretsmanager', 'sts']);
    expect(interfaces).toHaveLength(Object.keys(interfaceEndpoints).length);
    for (const e of interfaces) expect(e.Properties.PrivateDnsEnabled).toBe(true);
  });

  it('lets only the handlers, the pilots and the MQ pollers (the broker group) reach the endpoints, on 443', () => {
    // Prepare
    const endpointGroup = logicalIdOf(s.stack.network.endpointSecurityGroup);
    const allowed = [
      s.stack.handlers.securityGroup,
      s.stack.pilots.securityGroup,
      s.stack.broker.securityGroup,
    ].map(logicalIdOf);

    // Act
    const ingress = Object.values(s.template.findResources('AWS::EC2::SecurityGroupIngress')).filter(
      (r) => r.Properties.GroupId['Fn::GetAtt']?.[0] === endpointGroup,
    );

    // Assess
    expect(ingress.map((r) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]).sort()).toEqual(
      allowed.sort(),
    );
    for (const r of ingress)
      expect(r.Properties).toMatchObject({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443 });
  });

  it('logs rejected traffic of the VPC', () => {
    // Prepare
    const t = s.template;

    // Act
    const flowLogs = t.findResources('AWS::EC2::FlowLog');

    // Assess
    expect(Object.values(flowLogs).map((f) => f.Properties.TrafficType)).toEqual(['REJECT']);
  });

  it('refuses an existing VPC together with the size of a new one', () => {
    // Prepare
    const stack = new Stack(new App(), 'Bare');
    const vpc = new Vpc(stack, 'Existing', { maxAzs: 2 });

    // Act
    const build = () => new Network(stack, 'Network', { vpc, maxAzs: 2 });

    // Assess
    expect(build).toThrow('Network takes either an existing vpc or maxAzs for a new one, not both.');
  });
});
