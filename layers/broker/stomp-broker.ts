import type * as tls from 'node:tls';
import { describeEndpoint, type Endpoint, parseBrokerUrl } from './broker-url.ts';
import { Outbox, type Outlet, sendAloneNextTime } from './outbox.ts';
import type { BrokerPort, ReceivedMessage, SubscribeOptions, Subscription } from './port.ts';
import { type IncomingFrame, StompitSession } from './stompit-session.ts';

export interface BrokerConfig {
  /** `stomp://host:port`, `stomp+ssl://host:port` or `failover:(stomp+ssl://a:61614,stomp+ssl://b:61614)`. */
  readonly url: string;
  readonly user: string;
  readonly password: string;
  /**
   * Heart-beat interval both ways; a silent peer is declared dead after 1.1 to 2.2 times this. 0 turns them off.
   * @default 10000
   */
  readonly heartbeatMs?: number;
  /** Back-off between reconnect attempts: doubles from `initialMs` up to `maxMs`, with jitter. @default { initialMs: 100, maxMs: 5000 } */
  readonly reconnect?: { readonly initialMs: number; readonly maxMs: number };
  /** Names this connection in log lines. @default 'broker' */
  readonly name?: string;
  /** Receives one line per connection event (never the password). @default console.error */
  readonly log?: (line: string) => void;
  /** How long one attempt (TCP, TLS and the STOMP handshake) may take. @default 10000 */
  readonly connectTimeoutMs?: number;
  /** Lifetime of published messages that carry no `expires` header. @default 12 h */
  readonly ttlMs?: number;
  /** Extra options for `stomp+ssl` endpoints, e.g. `ca` for a private certificate authority. */
  readonly tls?: tls.ConnectionOptions;
  /** Only for the benchmark, to measure what TCP_NODELAY is worth. @default true */
  readonly noDelay?: boolean;
}

/** Connects to the first endpoint that takes us; fails (without retrying) if none does. */
export async function connectBroker(config: BrokerConfig): Promise<BrokerPort> {
  const broker = new StompBroker(config);
  await broker.start();
  return broker;
}

interface LiveSubscription {
  readonly id: string;
  readonly headers: Record<string, string>;
  readonly ack: SubscribeOptions['ack'];
  readonly onMessage: (m: ReceivedMessage) => void | Promise<void>;
  /** The connection on which the broker confirmed this subscription. */
  session: StompitSession | undefined;
  active: boolean;
  confirmed: boolean;
  readonly ready: { resolve: () => void; reject: (error: Error) => void };
}

/** One established connection and what is in flight on it. */
interface Connection extends Outlet {
  readonly endpoint: Endpoint;
  readonly onLost: Set<() => void>;
}

const hours = 3_600_000;
/** How soon a subscription the broker refused after a reconnect is asked for again. */
const resubscribeDelayMs = 1_000;
/** Frame headers the port writes itself; a caller's value would break framing or routing. */
const reservedHeaders = new Set(['destination', 'receipt', 'content-length']);

/** The broker port over STOMP: connects, reconnects with back-off, re-subscribes, and resends what is unconfirmed. */
class StompBroker implements BrokerPort {
  private readonly endpoints: Endpoint[];
  private readonly name: string;
  private readonly log: (line: string) => void;
  private readonly heartbeatMs: number;
  private readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  private current: Connection | undefined;
  private connecting: StompitSession | undefined;
  private preferred = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closing: Promise<void> | undefined;
  private nextSubscription = 1;
  private readonly outbox: Outbox;
  private readonly subscriptions = new Set<LiveSubscription>();
  /** Set while close() waits for the outbox to empty (or the connection to go). */
  private drained: (() => void) | undefined;

  constructor(private readonly config: BrokerConfig) {
    this.endpoints = parseBrokerUrl(config.url);
    this.name = config.name ?? 'broker';
    const sink = config.log ?? ((line: string) => console.error(line));
    this.log = (line) => sink(`[${this.name}] ${this.scrub(line)}`);
    this.heartbeatMs = config.heartbeatMs ?? 10_000;
    this.backoff = config.reconnect ?? { initialMs: 100, maxMs: 5_000 };
    this.outbox = new Outbox(
      this.name,
      () => this.current,
      () => this.drained?.(),
    );
  }

  async start(): Promise<void> {
    await this.connectAny();
  }

  publish(destination: string, body: string, headers: Record<string, string> = {}): Promise<void> {
    if (this.closing) return Promise.reject(new Error(`${this.name}: publish after close`));
    if (body.includes('\0'))
      return Promise.reject(new Error('a STOMP text body cannot hold a NUL character'));
    const own: Record<string, string> = {
      persistent: 'true',
      expires: String(Date.now() + (this.config.ttlMs ?? 12 * hours)),
    };
    for (const [k, v] of Object.entries(headers)) if (!reservedHeaders.has(k)) own[k] = v;
    return this.outbox.add(destination, { ...own, destination }, body);
  }
  subscribe(
    destination: string,
    options: SubscribeOptions,
    onMessage: (m: ReceivedMessage) => void | Promise<void>,
  ): Subscription {
    if (this.closing) throw new Error(`${this.name}: subscribe after close`);
    const id = `sub-${this.nextSubscription++}`;
    const headers: Record<string, string> = { destination, id, ack: options.ack };
    if (options.selector) headers.selector = options.selector;
    if (options.prefetch !== undefined) headers['activemq.prefetchSize'] = String(options.prefetch);
    if (options.browse) headers.browser = 'true';
    let ready = { resolve: () => {}, reject: (_: Error) => {} };
    const readyPromise = new Promise<void>((resolve, reject) => {
      ready = { resolve, reject };
    });
    // Nobody has to await `ready`; a refused subscription is logged anyway.
    readyPromise.catch(() => {});
    const sub: LiveSubscription = {
      id,
      headers,
      ack: options.ack,
      onMessage,
      session: undefined,
      active: true,
      confirmed: false,
      ready,
    };
    this.subscriptions.add(sub);
    if (this.current) this.subscribeOn(this.current, sub);
    return { ready: readyPromise, unsubscribe: () => this.unsubscribe(sub) };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.reconnectTimer);
    this.connecting?.destroy();
    const c = this.current;
    if (c) {
      // What was published before close() still goes out (the broker has some seconds for it).
      if (this.outbox.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5_000);
          this.drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.drained = undefined;
      }
      // The DISCONNECT receipt comes after the receipts of every frame sent before it.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          c.session.destroy();
          resolve();
        }, 5_000);
        c.session.disconnect(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.lost(c);
    }
    this.outbox.rejectAll();
    for (const sub of this.subscriptions) sub.active = false;
    this.subscriptions.clear();
  }

  private async connectAny(): Promise<Connection> {
    let lastError: Error | undefined;
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.preferred + i) % this.endpoints.length;
      const endpoint = this.endpoints[index] as Endpoint;
      try {
        const c = await this.open(endpoint);
        this.preferred = index;
        return c;
      } catch (error) {
        lastError = error as Error;
        if (this.endpoints.length > 1) this.log(lastError.message);
      }
    }
    throw lastError ?? new Error(`${this.name}: no endpoint`);
  }

  private open(endpoint: Endpoint): Promise<Connection> {
    if (this.closing) return Promise.reject(new Error(`${this.name}: closed`));
    const session = new StompitSession(endpoint, {
      heartbeatMs: this.heartbeatMs,
      noDelay: this.config.noDelay !== false,
      ...(this.config.tls ? { tls: this.config.tls } : {}),
    });
    this.connecting = session;
    const where = describeEndpoint(endpoint);
    return new Promise<Connection>((resolve, reject) => {
      const timeoutMs = this.config.connectTimeoutMs ?? 10_000;
      const timer = setTimeout(() => session.abandon(`no STOMP session within ${timeoutMs} ms`), timeoutMs);
      session.connect(
        { 'accept-version': '1.2', host: '/', login: this.config.user, passcode: this.config.password },
        (error: Error | null) => {
          clearTimeout(timer);
          if (this.connecting === session) this.connecting = undefined;
          if (error) {
            session.destroy();
            reject(
              new Error(
                this.scrub(
                  `${this.name}: cannot connect to ${where} as ${this.config.user}: ${error.message}`,
                ),
              ),
            );
          } else if (this.closing) {
            session.destroy();
            reject(new Error(`${this.name}: closed`));
          } else {
            // Wired up here, synchronously: an error right after the handshake must already find our listeners.
            resolve(this.established(session, endpoint));
          }
        },
      );
    });
  }

  private established(session: StompitSession, endpoint: Endpoint): Connection {
    const c: Connection = {
      session,
      endpoint,
      onLost: new Set(),
      inTransaction: new Map(),
      unconfirmed: 0,
    };
    this.current = c;
    this.failures = 0;
    session.watch(
      (error) => this.lost(c, error),
      (message) => {
        sendAloneNextTime(c);
        session.destroy(message);
      },
    );
    this.log(`connected to ${describeEndpoint(endpoint)} (${session.server ?? 'unknown server'})`);
    for (const sub of this.subscriptions) this.subscribeOn(c, sub);
    this.outbox.resend();
    return c;
  }

  private lost(c: Connection, error?: Error): void {
    if (this.current !== c) return;
    this.current = undefined;
    for (const sub of this.subscriptions) sub.session = undefined;
    for (const f of c.onLost) f();
    c.onLost.clear();
    if (this.closing) {
      this.drained?.();
      return;
    }
    this.log(
      `connection to ${describeEndpoint(c.endpoint)} lost (${error?.message ?? 'closed by the broker'}); ` +
        `${this.outbox.size} message(s) wait for a reconnect`,
    );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.failures);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.failures++;
    this.reconnectTimer = setTimeout(() => {
      this.connectAny().catch((error: Error) => {
        if (this.closing) return;
        this.log(`reconnect failed: ${error.message}`);
        this.scheduleReconnect();
      });
    }, delay);
  }

  private subscribeOn(c: Connection, sub: LiveSubscription): void {
    c.session.listen(sub.id, sub.ack, (frame) => this.receive(c, sub, frame));
    sub.session = c.session;
    c.session.sendWithReceipt(
      'SUBSCRIBE',
      sub.headers,
      undefined,
      () => {
        if (!sub.confirmed) {
          sub.confirmed = true;
          sub.ready.resolve();
        }
      },
      (message) => {
        c.session.forget(sub.id);
        if (sub.confirmed && sub.active) {
          // Accepted once, refused after a reconnect: a broker still starting (its authorization or
          // destinations not loaded) refuses for a while. Dropping the subscription would leave its queue
          // unconsumed for good, so it is asked for again until the broker takes it.
          this.log(`subscription to ${sub.headers.destination} refused again (${message}); asking again`);
          const retry = setTimeout(() => {
            if (sub.active && this.current === c) this.subscribeOn(c, sub);
          }, resubscribeDelayMs);
          c.onLost.add(() => clearTimeout(retry));
          return;
        }
        // A bad selector or a forbidden destination: re-subscribing would only fail again.
        this.subscriptions.delete(sub);
        sub.active = false;
        this.log(`subscription to ${sub.headers.destination} refused: ${message}`);
        sub.ready.reject(
          new Error(
            `${this.name}: the broker refused a subscription to ${sub.headers.destination}: ${message}`,
          ),
        );
      },
    );
  }

  private receive(c: Connection, sub: LiveSubscription, frame: IncomingFrame): void {
    frame.readString('utf-8', (error, body) => {
      // Unacked and undelivered: the broker redelivers it to whoever consumes next.
      if (error || !sub.active || body === undefined) return;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(frame.headers)) headers[k] = String(v);
      let settled = sub.ack === 'auto';
      const settle = (command: 'ACK' | 'NACK') => {
        if (settled) return;
        settled = true;
        // A stray ACK makes ActiveMQ answer with an ERROR frame: only ack on the connection it came on.
        if (this.current !== c || sub.session !== c.session || !sub.active) return;
        // STOMP 1.2 needs only the MESSAGE's `ack` header: small ACK frames matter (see frame-output.ts).
        c.session.send(command, { id: headers.ack as string });
      };
      const message: ReceivedMessage = {
        body,
        headers,
        destination: headers.destination ?? String(sub.headers.destination),
        messageId: headers['message-id'] ?? '',
        redelivered: headers.redelivered === 'true',
        ack: () => settle('ACK'),
        nack: () => settle('NACK'),
      };
      const failed = (e: unknown) =>
        this.log(
          `handler of ${sub.headers.destination} failed on ${message.messageId} (left unacked): ` +
            (e instanceof Error ? e.message : String(e)),
        );
      try {
        const result = sub.onMessage(message);
        if (result && typeof result.then === 'function') result.then(undefined, failed);
      } catch (e) {
        failed(e);
      }
    });
  }

  private unsubscribe(sub: LiveSubscription): Promise<void> {
    if (!sub.active) return Promise.resolve();
    sub.active = false;
    this.subscriptions.delete(sub);
    const c = this.current;
    if (!c || sub.session !== c.session) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        c.onLost.delete(done);
        c.session.forget(sub.id);
        resolve();
      };
      c.onLost.add(done);
      c.session.sendWithReceipt('UNSUBSCRIBE', { id: sub.id }, undefined, done, (message) => {
        this.log(`unsubscribe from ${sub.headers.destination} refused: ${message}`);
        done();
      });
    });
  }

  /** Error texts may quote what the broker echoed; the password must not leave this module. */
  private scrub(text: string): string {
    const p = this.config.password;
    // A password of a few letters would only mangle words that happen to contain them.
    return p.length >= 4 ? text.split(p).join('***') : text;
  }
}
