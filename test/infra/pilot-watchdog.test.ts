import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { HandlerFunction } from '../../lib/handler-function.ts';
import {
  actionsOf,
  logicalIdOf,
  resourcesOf,
  type Synthesized,
  statementsOfRole,
  synthTestbed,
} from './support/stack.ts';

let s: Synthesized;
beforeAll(() => {
  s = synthTestbed();
});

// biome-ignore lint/suspicious/noExplicitAny: a template resource is untyped JSON.
const resource = (construct: Parameters<typeof logicalIdOf>[0]): Record<string, any> =>
  s.template.toJSON().Resources[logicalIdOf(construct)];

describe('Construct: PilotWatchdog', () => {
  it('runs every minute, in the VPC with the handlers, whose security group the broker lets in', () => {
    // Prepare
    const watchdog = s.stack.pilotWatchdog;

    // Act
    const rule = resource(watchdog.rule).Properties;
    const fn = resource(watchdog.function).Properties;

    // Assess
    expect(rule.ScheduleExpression).toBe('rate(1 minute)');
    expect(rule.Description).toMatch(/replay messages parked for a transient failure/);
    expect(fn.VpcConfig.SecurityGroupIds).toEqual([
      { 'Fn::GetAtt': [logicalIdOf(s.stack.handlers.securityGroup), 'GroupId'] },
    ]);
  });

  it('tells the watchdog the broker and its secret, for the replay of transiently parked messages', () => {
    // Prepare
    const variables = resource(s.stack.pilotWatchdog.function).Properties.Environment.Variables;

    // Act
    const { BROKER_URL, BROKER_SECRET_ARN } = variables;

    // Assess
    expect(BROKER_URL).toEqual(s.stack.resolve(s.stack.broker.stompUrl));
    expect(BROKER_SECRET_ARN).toEqual({ Ref: logicalIdOf(s.stack.broker.credentials) });
  });

  it('lets the watchdog read the broker secret and nothing else of the broker, besides its pilot grants', () => {
    // Prepare
    const statements = statementsOfRole(
      s.template,
      logicalIdOf(s.stack.pilotWatchdog.function.executionRole),
    );

    // Act
    const secrets = statements.filter((st) => actionsOf(st).some((a) => a.startsWith('secretsmanager:')));
    const actions = new Set(statements.flatMap(actionsOf));

    // Assess
    expect(secrets).toHaveLength(1);
    expect(actionsOf(secrets[0] as Record<string, unknown>).sort()).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);
    expect(resourcesOf(secrets[0] as Record<string, unknown>)).toEqual([
      { Ref: logicalIdOf(s.stack.broker.credentials) },
    ]);
    // The replay speaks STOMP to the broker: no Amazon MQ API, no other service.
    expect([...actions].filter((a) => a.startsWith('mq:'))).toEqual([]);
    expect(
      [...actions].filter((a) => !/^(dynamodb|ecs|iam:PassRole|ec2|logs|secretsmanager|sqs)/.test(a)),
    ).toEqual([]);
  });

  it('leaves transient failures to the poller when a function is built to throw them', () => {
    // Prepare
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'One');

    // Act
    new HandlerFunction(stack, 'EndRun', { handler: 'end-run', transientFailures: 'throw' });
    new HandlerFunction(stack, 'StartRun', { handler: 'start-run' });
    const variables = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).map(
      (f) => f.Properties.Environment.Variables.TRANSIENT_FAILURES,
    );

    // Assess
    expect(variables.sort()).toEqual(['park', 'throw']);
  });
});
