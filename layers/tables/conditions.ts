import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/** A write refused by its condition: someone else's write came first (dynalite's refusals are instances too). */
export const isConditionFailed = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException;

/** Resolves false when the write's condition failed, true when it was written; other errors are thrown. */
export async function conditionalWrite(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}
