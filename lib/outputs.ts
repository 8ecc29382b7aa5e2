import type { TableName } from '#tables/definitions.ts';

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
  table: (name: TableName) => `Table${name[0]?.toUpperCase()}${name.slice(1)}`,
} as const;
