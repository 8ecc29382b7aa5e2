import { beforeAll, describe, expect, it } from 'vitest';
import { logicalIdOf, type Synthesized, synthTestbed } from './support/stack.ts';

let s: Synthesized;
beforeAll(() => {
  s = synthTestbed();
});

describe('Deploy order: MQ event source mappings', () => {
  it('are created only after the interface endpoints, the broker group rules and the endpoint group rules', () => {
    // Prepare
    const t = s.template;
    const endpoints = Object.entries(t.findResources('AWS::EC2::VPCEndpoint'))
      .filter(([, e]) => e.Properties.VpcEndpointType === 'Interface')
      .map(([id]) => id);
    const ingressInto = (group: string) =>
      Object.entries(t.findResources('AWS::EC2::SecurityGroupIngress'))
        .filter(([, r]) => r.Properties.GroupId['Fn::GetAtt']?.[0] === group)
        .map(([id]) => id);
    const brokerRules = ingressInto(logicalIdOf(s.stack.broker.securityGroup));
    const endpointRules = ingressInto(logicalIdOf(s.stack.network.endpointSecurityGroup));

    // Act
    const mappings = Object.values(t.findResources('AWS::Lambda::EventSourceMapping'));

    // Assess
    expect(endpoints).toHaveLength(7);
    // The pollers' OpenWire rule and the functions' STOMP rules; HTTPS from handlers, pilots and pollers.
    expect(brokerRules).toHaveLength(3);
    expect(endpointRules).toHaveLength(3);
    expect(mappings.length).toBeGreaterThan(0);
    for (const mapping of mappings)
      expect(mapping.DependsOn).toEqual(
        expect.arrayContaining([...endpoints, ...brokerRules, ...endpointRules]),
      );
  });
});
