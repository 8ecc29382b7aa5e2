import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import type { Logger } from '#log/logger.ts';
import { readCredentials } from './credentials.ts';

/**
 * The broker named by the environment: BROKER_URL with BROKER_CREDENTIALS_FILE (local) or BROKER_SECRET_ARN
 * (AWS). Apart from env.ts so that a pilot, which needs no DynamoDB, does not load its SDK (~20 MB).
 */
export async function brokerFromEnv(env: NodeJS.ProcessEnv, log: Logger): Promise<BrokerPort> {
  return connectBroker({
    url: required(env, 'BROKER_URL'),
    ...(await brokerCredentials(env)),
    log: (l) => log.info(l),
  });
}

async function brokerCredentials(env: NodeJS.ProcessEnv): Promise<{ user: string; password: string }> {
  const file = env.BROKER_CREDENTIALS_FILE;
  if (file) return readCredentials(file);
  const { secretCredentials } = await import('./broker-secret.ts');
  return secretCredentials(required(env, 'BROKER_SECRET_ARN'));
}

function required(env: NodeJS.ProcessEnv, key: string): string {
  const v = env[key];
  if (!v) throw new Error(`environment variable ${key} is not set`);
  return v;
}
