import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#routes/route-table.ts';
import { type TableName, tables } from '#tables/definitions.ts';
import { messageLog, tableAccess } from '../../lib/handlers.ts';
import { hostHandlers, LocalStackStack } from '../../lib/localstack-stack.ts';
import { nagReport } from '../../lib/nag.ts';
import { outputKeys } from '../../lib/outputs.ts';
import { logicalIdOf, statementsOfRole } from './support/stack.ts';

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

  it('holds a function per handler of the route table, bar the worker adjuster that starts local pilots', () => {
    // Prepare
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));

    // Act
    // The bucket's auto-delete provider is a function too, without an environment: not ours.
    const services = functions.flatMap(
      (f) => f.Properties.Environment?.Variables.POWERTOOLS_SERVICE_NAME ?? [],
    );

    // Assess
    const expected = routes.map((r) => r.handler).filter((h) => !hostHandlers.has(h));
    expect(expected.length).toBeGreaterThan(10);
    expect(services.sort()).toEqual([...expected, 'daq-simulator'].sort());
    expect(Object.keys(stack.functions).sort()).toEqual(expected.sort());
    expect(services).not.toContain('adjuster-worker');
  });

  it("gives every handler function the AWS stack's environment, aimed at the local broker", () => {
    // Prepare
    const tableEnv = Object.fromEntries(
      Object.keys(tables).map((t) => [`TABLE_${t.toUpperCase()}`, expect.anything()]),
    );

    // Act
    const envs = Object.entries(stack.functions).map(([handler, fn]) => ({
      handler,
      props: template.toJSON().Resources[logicalIdOf(fn)].Properties,
    }));

    // Assess
    for (const { handler, props } of envs) {
      expect(props.Environment.Variables, handler).toMatchObject({
        BROKER_URL: 'stomp://host.docker.internal:61613',
        BROKER_SECRET_ARN: 'testbed-broker',
        TABLE_PREFIX: 'testbed-',
        TRANSIENT_FAILURES: 'park',
        ...tableEnv,
      });
      expect(props.VpcConfig, handler).toBeUndefined();
    }
  });

  it('grants each handler function its tables as the AWS stack does, the message log with them', () => {
    // Prepare
    const tableOf = Object.fromEntries(
      Object.keys(tables).map((t) => [logicalIdOf(stack.tables.byName[t as TableName]), t]),
    );

    // Act
    const granted = Object.entries(stack.functions).map(([handler, fn]) => {
      const statements = statementsOfRole(template, logicalIdOf(fn.executionRole));
      const refs = statements.flatMap((st) =>
        [st.Resource].flat().map((r) => JSON.stringify(r).match(/"(\w+)","Arn"/)?.[1]),
      );
      return { handler, tables: [...new Set(refs.map((r) => r && tableOf[r]).filter(Boolean))].sort() };
    });

    // Assess
    for (const { handler, tables: names } of granted) {
      expect(names, handler).toEqual(Object.keys({ ...messageLog, ...tableAccess[handler] }).sort());
    }
  });

  it('outputs the function of each handler under the key the runner looks it up by', () => {
    // Prepare
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;

    // Act
    const byHandler = Object.entries(stack.functions).map(([handler, fn]) => ({
      value: outputs[outputKeys.handlerFunction(handler)]?.Value,
      ref: { Ref: logicalIdOf(fn) },
    }));

    // Assess
    for (const { value, ref } of byHandler) expect(value).toEqual(ref);
    expect(outputs[outputKeys.daqFunction]?.Value).toEqual({ Ref: logicalIdOf(stack.daqSimulator) });
    expect(outputs[outputKeys.stfBucket]).toBeDefined();
    for (const t of Object.keys(tables)) expect(outputs[outputKeys.table(t as TableName)]).toBeDefined();
  });

  it('gives every function the broker URL it is given (cdk -c brokerUrl=…)', () => {
    // Prepare
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const other = new LocalStackStack(app, 'Other', { brokerUrl: 'stomp://172.17.0.1:61613' });

    // Act
    const urls = Object.values(Template.fromStack(other).findResources('AWS::Lambda::Function')).flatMap(
      (f) => f.Properties.Environment?.Variables.BROKER_URL ?? [],
    );

    // Assess
    expect(urls).toHaveLength(Object.keys(other.functions).length + 1);
    expect(new Set(urls)).toEqual(new Set(['stomp://172.17.0.1:61613']));
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
