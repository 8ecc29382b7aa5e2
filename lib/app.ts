import { App } from 'aws-cdk-lib';
import { LocalStackStack } from './localstack-stack.ts';
import { applyNagPacks } from './nag.ts';
import { stackPropsFromContext, TestbedStack } from './testbed-stack.ts';

// Context (cdk.json or -c key=value): target (aws or localstack), stackName, brokerDeployment, brokerInstanceType;
// for localstack also brokerUrl and brokerSecretName.
const app = new App();
const text = (key: string): string | undefined => {
  const v = app.node.tryGetContext(key);
  return typeof v === 'string' && v !== '' ? v : undefined;
};
const target = text('target') ?? 'aws';
// No account or region: the template is environment-agnostic, so synth needs no credentials and no lookups.
if (target === 'aws') {
  new TestbedStack(app, text('stackName') ?? 'SwfTestbed', stackPropsFromContext(app.node));
} else if (target === 'localstack') {
  const brokerUrl = text('brokerUrl');
  const brokerSecretName = text('brokerSecretName');
  new LocalStackStack(app, text('stackName') ?? 'SwfTestbedLocal', {
    ...(brokerUrl && { brokerUrl }),
    ...(brokerSecretName && { brokerSecretName }),
  });
} else {
  throw new Error(`Context target must be aws or localstack, not ${target}.`);
}
applyNagPacks(app);
