import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localDynamoClient } from './dynalite.ts';
import { dynamodbEndpoint, type StackConfig, stackPartNames } from './stack.ts';
import { whyNotComingBack } from './supervisor.ts';

// The stack's DynamoDB as the CLI reaches it: dynalite, a part of the stack, or LocalStack's, which the
// stack neither runs nor restarts.

/** A bounded client for the stack's DynamoDB (a stopped emulator takes the connection and never answers). */
export const stackDynamoClient = (
  s: StackConfig,
  o: { requestTimeoutMs?: number; maxAttempts?: number } = {},
): DynamoDBClient =>
  localDynamoClient(dynamodbEndpoint(s), { ...o, ...(s.localstack && { region: s.localstack.region }) });

/**
 * Whether waiting for the stack's DynamoDB makes sense (see `whyNotComingBack`): dynalite comes back when
 * its supervisor restarts it; LocalStack's is not the stack's to restart, so waiting for it is pointless.
 */
export function whyDynamoNotComingBack(s: StackConfig): string | undefined {
  if (stackPartNames(s).includes('dynalite')) return whyNotComingBack(s.stateDir, 'dynalite');
  const where = dynamodbEndpoint(s);
  return `it is LocalStack's (${where}), which the local stack does not restart: is LocalStack up?`;
}
