import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { TestbedStack, type TestbedStackProps } from '../../../lib/testbed-stack.ts';

export interface Synthesized {
  readonly app: App;
  readonly stack: TestbedStack;
  readonly template: Template;
}

/**
 * The testbed stack, synthesized once per test file. Bundling is skipped (CDK's `aws:cdk:bundling-stacks`
 * context): esbuild for fourteen functions would cost seconds per synth for nothing these tests look at;
 * `bundles.test.ts` bundles for real.
 */
export function synthTestbed(
  o: { bundling?: boolean; props?: TestbedStackProps; context?: object } = {},
): Synthesized {
  const app = new App({
    context: { ...(o.bundling ? {} : { 'aws:cdk:bundling-stacks': [] }), ...o.context },
  });
  const stack = new TestbedStack(app, 'Testbed', o.props);
  return { app, stack, template: Template.fromStack(stack) };
}

/** The logical id CloudFormation knows a construct by (the construct or its default child resource). */
export function logicalIdOf(construct: IConstruct): string {
  const element = (
    CfnElement.isCfnElement(construct) ? construct : construct.node.defaultChild
  ) as CfnElement;
  const stack = Stack.of(element);
  return stack.resolve(stack.getLogicalId(element)) as string;
}

type Json = Record<string, unknown>;

/** Every statement of every IAM policy attached to a role (by the role's logical id). */
export function statementsOfRole(template: Template, roleId: string): Json[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => ((p.Properties as Json).Roles as Json[]).some((r) => r.Ref === roleId))
    .flatMap((p) => ((p.Properties as Json).PolicyDocument as Json).Statement as Json[]);
}

export const actionsOf = (s: Json): string[] => [s.Action].flat() as string[];
export const resourcesOf = (s: Json): unknown[] => [s.Resource].flat();
