import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

const clients = new WeakMap<DynamoDBClient, DynamoDBDocumentClient>();

/** The document client over a DynamoDB client, one per client; numbers stay numbers, sets stay Sets. */
export function documents(db: DynamoDBClient): DynamoDBDocumentClient {
  let doc = clients.get(db);
  if (!doc) {
    doc = DynamoDBDocumentClient.from(db, { marshallOptions: { removeUndefinedValues: true } });
    clients.set(db, doc);
  }
  return doc;
}
