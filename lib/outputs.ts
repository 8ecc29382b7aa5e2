import type { TableName } from '#tables/definitions.ts';

/** `run-imminent` → `RunImminent`: a handler folder's name as CDK ids and output keys want it. */
export const handlerId = (handler: string): string =>
  handler.replace(/(^|-)([a-z])/g, (_, _dash: string, c: string) => c.toUpperCase());

/**
 * Stack output keys: the stack writes them, `testbed run --target aws` reads them. No CDK import here, so
 * the CLI can read this without loading the CDK app.
 */
export const outputKeys = {
  daqFunction: 'DaqSimulatorFunctionName',
  daqDeadLetterQueue: 'DaqSimulatorDeadLetterQueueUrl',
  brokerId: 'BrokerId',
  brokerUrl: 'BrokerStompUrl',
  brokerSecret: 'BrokerSecretArn',
  stfBucket: 'StfBucketName',
  pilotCluster: 'PilotClusterName',
  pilotLogGroup: 'PilotLogGroupName',
  monitorApiUrl: 'MonitorApiUrl',
  /** The function of a route's handler (`run-imminent` → `RunImminentFunctionName`), in LocalStack's stack. */
  handlerFunction: (handler: string) => `${handlerId(handler)}FunctionName`,
  table: (name: TableName) => `Table${name[0]?.toUpperCase()}${name.slice(1)}`,
} as const;
