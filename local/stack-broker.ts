import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { type StackConfig, stackEnvironment } from './stack.ts';

/** A connection to the local stack's broker, as the CLI makes them: its own name, no connection log. */
export function stackBroker(stack: StackConfig, name: string): Promise<BrokerPort> {
  const env = stackEnvironment(stack);
  return connectBroker({
    url: env.BROKER_URL as string,
    ...readCredentials(env.BROKER_CREDENTIALS_FILE as string),
    name,
    log: () => {},
  });
}
