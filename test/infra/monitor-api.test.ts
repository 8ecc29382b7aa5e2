import { App } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { stackPropsFromContext } from '../../lib/testbed-stack.ts';
import { actionsOf, logicalIdOf, type Synthesized, synthTestbed } from './support/stack.ts';

const invokerArn = 'arn:aws:iam::123456789012:role/monitor-reader';

let s: Synthesized;
beforeAll(() => {
  s = synthTestbed({ props: { monitorInvokerRoleArns: [invokerArn] } });
});

type Json = Record<string, unknown>;

/** The statements of the policies attached to a role by its name (how CDK attaches to an imported role). */
function statementsOfRoleNamed(name: string): Json[] {
  return Object.values(s.template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(name))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Json[]);
}

describe('Construct: MonitorApi', () => {
  it('serves a function URL with AWS_IAM auth', () => {
    // Prepare
    const fn = logicalIdOf(s.stack.monitor.function);

    // Act
    const urls = Object.values(s.template.findResources('AWS::Lambda::Url')).map((u) => u.Properties);

    // Assess
    expect(urls).toEqual([
      expect.objectContaining({ AuthType: 'AWS_IAM', TargetFunctionArn: { 'Fn::GetAtt': [fn, 'Arn'] } }),
    ]);
  });

  it('grants an invoker both lambda:InvokeFunctionUrl and lambda:InvokeFunction (via the URL) on the function', () => {
    // Prepare
    const fn = logicalIdOf(s.stack.monitor.function);

    // Act
    const statements = statementsOfRoleNamed('monitor-reader');
    const onFunction = statements.filter((st) => JSON.stringify(st.Resource).includes(fn));

    // Assess
    expect(onFunction.flatMap(actionsOf).sort()).toEqual([
      'lambda:InvokeFunction',
      'lambda:InvokeFunctionUrl',
    ]);
    const invoke = onFunction.find((st) => actionsOf(st).includes('lambda:InvokeFunction'));
    expect(invoke?.Condition).toEqual({ Bool: { 'lambda:InvokedViaFunctionUrl': true } });
  });

  it('grants nobody by default', () => {
    // Prepare
    const bare = synthTestbed();

    // Act
    const actions = Object.values(bare.template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Json[])
      .flatMap(actionsOf);

    // Assess
    expect(actions).not.toContain('lambda:InvokeFunctionUrl');
  });

  it('takes its invokers from the monitorInvokerRoleArns context value, comma-separated', () => {
    // Prepare
    const app = new App({ context: { monitorInvokerRoleArns: `${invokerArn}, arn:aws:iam::1:role/b` } });

    // Act
    const props = stackPropsFromContext(app.node);

    // Assess
    expect(props.monitorInvokerRoleArns).toEqual([invokerArn, 'arn:aws:iam::1:role/b']);
    expect(stackPropsFromContext(new App().node).monitorInvokerRoleArns).toBeUndefined();
  });
});
