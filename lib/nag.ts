import { type PolicyValidationPluginReport, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, type NagPack, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** A cdk-nag finding accepted on purpose: its rule id (with `[finding]` for one finding of a rule) and why. */
export interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

/** Accepts findings on a construct and everything under it; each reason says why the finding stays. */
export function suppress(scope: IConstruct, findings: readonly Acknowledgement[]): void {
  for (const finding of findings) Validations.of(scope).acknowledge(finding);
}

/** The rule packs the stack is held to. */
export const nagPacks = (scope?: IConstruct): NagPack[] => [
  new AwsSolutionsChecks(scope, { verbose: true, writeSuppressionsToCloudFormation: true }),
  new ServerlessChecks(scope, { verbose: true }),
];

/** Runs the packs at synthesis: `cdk synth` and `cdk deploy` fail on any finding not acknowledged. */
export function applyNagPacks(scope: IConstruct): void {
  Validations.of(scope).addPlugins(...nagPacks(scope));
}

/** Runs the packs on a construct tree now (tests), without a synthesis. */
export function nagReport(scope: IConstruct): PolicyValidationPluginReport[] {
  return nagPacks().map((pack) => pack.validateScope(scope));
}
