import { App, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { Network } from '../../lib/network.ts';
import { stackPropsFromContext, type TestbedStackProps } from '../../lib/testbed-stack.ts';
import { type Synthesized, synthTestbed } from './support/stack.ts';

type Json = Record<string, unknown>;

let single: Synthesized;
let standby: Synthesized;
beforeAll(() => {
  single = synthTestbed();
  standby = synthTestbed({ props: { brokerDeployment: 'ACTIVE_STANDBY_MULTI_AZ' } });
}, 180_000);

const interfaceEndpoints = (t: Template): Json[] =>
  Object.values(t.findResources('AWS::EC2::VPCEndpoint'))
    .filter((e) => e.Properties.VpcEndpointType === 'Interface')
    .map((e) => e.Properties);
const brokerSubnets = (t: Template): unknown =>
  Object.values(t.findResources('AWS::AmazonMQ::Broker'))[0]?.Properties.SubnetIds;
const allSubnets = (t: Template): unknown[] =>
  Object.keys(t.findResources('AWS::EC2::Subnet')).map((id) => ({ Ref: id }));

describe('Interface endpoints: in the broker Availability Zones', () => {
  it('puts every interface endpoint of a single-instance stack in the broker subnet alone', () => {
    // Prepare
    const t = single.template;

    // Act
    const subnets = interfaceEndpoints(t).map((e) => e.SubnetIds);

    // Assess
    expect(brokerSubnets(t)).toHaveLength(1);
    expect(subnets).toHaveLength(7);
    for (const s of subnets) expect(s).toEqual(brokerSubnets(t));
  });

  it('puts them in both Availability Zones of an active/standby stack, where its two brokers are', () => {
    // Prepare
    const t = standby.template;

    // Act
    const subnets = interfaceEndpoints(t).map((e) => e.SubnetIds as unknown[]);

    // Assess
    expect(brokerSubnets(t)).toHaveLength(2);
    for (const s of subnets) expect(s.sort()).toEqual(allSubnets(t).sort());
  });

  it('puts them in every Availability Zone of a single-instance stack when told to', () => {
    // Prepare
    const props: TestbedStackProps = { interfaceEndpointsInEveryAz: true };

    // Act
    const t = synthTestbed({ props }).template;

    // Assess
    expect(brokerSubnets(t)).toHaveLength(1);
    for (const e of interfaceEndpoints(t))
      expect((e.SubnetIds as unknown[]).sort()).toEqual(allSubnets(t).sort());
  }, 120_000);

  it('takes interfaceEndpointsInEveryAz from the context, true or false, and refuses anything else', () => {
    // Prepare
    const context = (v: unknown) => new App({ context: { interfaceEndpointsInEveryAz: v } }).node;

    // Act
    const read = (v: unknown) => stackPropsFromContext(context(v)).interfaceEndpointsInEveryAz;

    // Assess
    expect([
      read('true'),
      read(false),
      stackPropsFromContext(new App().node).interfaceEndpointsInEveryAz,
    ]).toEqual([true, false, undefined]);
    expect(() => read('yes')).toThrow('Context interfaceEndpointsInEveryAz must be true or false, not yes.');
  });

  it('refuses more Availability Zones than the VPC has', () => {
    // Prepare
    const stack = new Stack(new App(), 'Bare');

    // Act
    const make = () => new Network(stack, 'Network', { maxAzs: 2, interfaceEndpointAzs: 3 });

    // Assess
    expect(make).toThrow("Network: 3 Availability Zones asked for, but the VPC's private subnets are in 2.");
  });
});
