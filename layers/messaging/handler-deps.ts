import type { BrokerPort } from '#broker/port.ts';
import type { Logger } from '#log/logger.ts';

/** What every message handler is given: the broker to publish (and park) on, and its logger. */
export interface HandlerDeps {
  readonly broker: BrokerPort;
  readonly log: Logger;
}
