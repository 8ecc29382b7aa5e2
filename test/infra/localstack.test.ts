import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { tables } from '#tables/definitions.ts';
import { LocalStackStack } from '../../lib/localstack-stack.ts';
import { nagReport } from '../../lib/nag.ts';
import { logicalIdOf } from './support/stack.ts';

let stack: LocalStackStack;
let template: Template;
beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  stack = new LocalStackStack(app, 'Local');
  template = Template.fromStack(stack);
});

describe('Stack: LocalStackStack', () => {
  it('holds only what LocalStack emulates: no broker, no mapping, no VPC, no ECS', () => {
    // Prepare
    const types = Object.values(template.toJSON().Resources).map((r) => (r as { Type: string }).Type);

    // Act
    const absent = [
      'AWS::AmazonMQ::Broker',
      'AWS::Lambda::EventSourceMapping',
      'AWS::EC2::VPC',
      'AWS::ECS::Cluster',
    ];

    // Assess
    for (const type of absent) expect(types).not.toContain(type);
    expect(types).toContain('AWS::SQS::Queue');
  });

  it('names the tables as the local runtime does, so its runner finds them', () => {
    // Prepare
    const expected = Object.keys(tables).map((t) => `testbed-${t}`);

    // Act
    const names = Object.values(template.findResources('AWS::DynamoDB::Table')).map(
      (t) => t.Properties.TableName,
    );

    // Assess
    expect(names.sort()).toEqual(expected.sort());
  });

  it('points the DAQ simulator at the local broker, its LocalStack secret and the STF bucket', () => {
    // Prepare
    const fn = template.toJSON().Resources[logicalIdOf(stack.daqSimulator)].Properties;

    // Act
    const env = fn.Environment.Variables;

    // Assess
    expect(env).toMatchObject({
      BROKER_URL: 'stomp://host.docker.internal:61613',
      BROKER_SECRET_ARN: 'testbed-broker',
      TABLE_PREFIX: 'testbed-',
    });
    expect(fn.VpcConfig).toBeUndefined();
    expect(fn.DeadLetterConfig).toBeDefined();
  });

  it('leaves no cdk-nag finding unacknowledged', () => {
    // Prepare
    const scope = stack;

    // Act
    const findings = nagReport(scope).flatMap((r) => r.violations.map((v) => v.ruleName));

    // Assess
    expect(findings).toEqual([]);
  });
});
