import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MonitorApi } from '../../../lib/monitor-api.ts';
import { nagReport } from '../../../lib/nag.ts';
import { Tables } from '../../../lib/tables.ts';

describe('Construct: MonitorApi', () => {
  let stack: Stack;
  let template: Template;
  beforeAll(() => {
    stack = new Stack(new App(), 'Monitor');
    const tables = new Tables(stack, 'Tables');
    const handlerLogs = new LogGroup(stack, 'HandlerLogs');
    new MonitorApi(stack, 'Monitor', { tables: tables.byName, logGroups: [handlerLogs] });
    template = Template.fromStack(stack);
  }, 120_000);

  it('puts the API behind a function URL that takes only IAM-signed requests', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM' });
  });

  it('lets the function read the tables and filter the log groups it is given, and write nothing', () => {
    // Act
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    // Assess
    expect(policies).toContain('dynamodb:Query');
    expect(policies).toContain('logs:FilterLogEvents');
    expect(policies).not.toMatch(/dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)/);
  });

  it('tells the function its tables and log groups', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          TABLE_MESSAGES: Match.anyValue(),
          TABLE_LOOKUPS: Match.anyValue(),
          LOG_GROUPS: Match.anyValue(),
        }),
      },
    });
  });

  it('leaves no cdk-nag finding unacknowledged', () => {
    // Act
    const findings = nagReport(stack).flatMap((r) =>
      r.violations
        .filter((v) => v.violatingResources.some((x) => x.constructPath?.includes('/Monitor/')))
        .map((v) => `${v.ruleName} at ${v.violatingResources.map((x) => x.constructPath).join(', ')}`),
    );
    // Assess
    expect(findings).toEqual([]);
  });
});
