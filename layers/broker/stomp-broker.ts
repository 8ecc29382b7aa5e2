import * as net from 'node:net';
import * as tls from 'node:tls';
import stompit from 'stompit';
import { FrameOutput } from './frame-output.ts';
import type { BrokerPort, ReceivedMessage, SubscribeOptions, Subscription } from './port.ts';

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

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

const defaultPorts = { stomp: 61613, 'stomp+ssl': 61614 } as const;

/** Splits a broker URL into the endpoints to try in turn. Credentials belong in the config, not the URL. */
export function parseBrokerUrl(url: string): Endpoint[] {
  const trimmed = url.trim();
  const failover =
    /^failover:\(([^)]*)\)(\?.*)?$/.exec(trimmed) ?? /^failover:([^()?]+)(\?.*)?$/.exec(trimmed);
  const parts = failover ? (failover[1] as string).split(',') : [trimmed];
  const endpoints = parts
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map(parseEndpoint);
  if (endpoints.length === 0) throw new Error(`broker URL names no endpoint: ${redactUrl(url)}`);
  return endpoints;
}

function parseEndpoint(text: string): Endpoint {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(
      `not a broker URL: ${redactUrl(text)} (expected stomp://host:port or stomp+ssl://host:port)`,
    );
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'stomp' && scheme !== 'stomp+ssl') {
    throw new Error(
      `unsupported broker URL scheme "${scheme}" in ${redactUrl(text)}: use stomp:// or stomp+ssl://`,
    );
  }
  if (u.username || u.password) {
    throw new Error(
      `broker URL ${redactUrl(text)} carries credentials: pass them as user and password instead`,
    );
  }
  if (!u.hostname) throw new Error(`broker URL ${redactUrl(text)} names no host`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: u.port ? Number(u.port) : defaultPorts[scheme], tls: scheme === 'stomp+ssl' };
}

const redactUrl = (url: string): string => url.replace(/\/\/[^/@]*@/g, '//***@');

const describeEndpoint = (e: Endpoint): string =>
  `${e.tls ? 'stomp+ssl' : 'stomp'}://${net.isIPv6(e.host) ? `[${e.host}]` : e.host}:${e.port}`;

/** Connects to the first endpoint that takes us; fails (without retrying) if none does. */
export async function connectBroker(config: BrokerConfig): Promise<BrokerPort> {
  const broker = new StompBroker(config);
  await broker.start();
  return broker;
}

/** stompit's Client with the internals this port relies on (stompit 1.0, which @types/stompit omits). */
type Client = stompit.Client & {
  _receipts: Record<string, () => void>;
  _subscriptions: Record<string, unknown>;
  headers?: Record<string, string>;
  destroy(exception?: Error): void;
};
type Frame = NodeJS.ReadableStream & {
  command: string;
  headers: Record<string, string | number>;
  readString(encoding: string, callback: (error: Error | null, body?: string) => void): void;
};

interface Outgoing {
  readonly id: number;
  readonly destination: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** Send alone with its own receipt: it was in a transaction the broker answered with an ERROR. */
  solo: boolean;
}

interface LiveSubscription {
  readonly id: string;
  readonly headers: Record<string, string>;
  readonly ack: SubscribeOptions['ack'];
  readonly onMessage: (m: ReceivedMessage) => void | Promise<void>;
  /** The connection on which the broker confirmed this subscription. */
  client: Client | undefined;
  active: boolean;
  confirmed: boolean;
  readonly ready: { resolve: () => void; reject: (error: Error) => void };
}

/** Per-connection bookkeeping: what a broker ERROR frame with a `receipt-id` refers to. */
interface Connection {
  readonly client: Client;
  readonly endpoint: Endpoint;
  readonly onErrorReceipt: Map<string, (message: string) => void>;
  readonly onLost: Set<() => void>;
  /** Messages in transactions whose COMMIT is not confirmed yet. */
  readonly inTransaction: Map<string, Outgoing[]>;
  /** Messages sent on this connection and not yet confirmed or refused. */
  unconfirmed: number;
}

const hours = 3_600_000;
/** Messages per transaction at most (the broker holds a transaction in memory until COMMIT). */
const maxBatch = 500;
/** Messages sent and not yet confirmed at most, per connection: two transactions in flight. */
const maxUnconfirmed = 2 * maxBatch;
/** Frame headers the port writes itself; a caller's value would break framing or routing. */
const reservedHeaders = new Set(['destination', 'receipt', 'content-length']);

class StompBroker implements BrokerPort {
  private readonly endpoints: Endpoint[];
  private readonly name: string;
  private readonly log: (line: string) => void;
  private readonly heartbeatMs: number;
  private readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  private current: Connection | undefined;
  private connecting: Client | undefined;
  private preferred = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closing: Promise<void> | undefined;
  private nextPublish = 1;
  private nextSubscription = 1;
  /** Publishes not yet confirmed by a receipt, in the order they were made: re-sent after a reconnect. */
  private readonly outbox = new Map<number, Outgoing>();
  /** Ids of outbox entries not yet sent on the current connection. */
  private unsent: number[] = [];
  private unsentHead = 0;
  private flushScheduled = false;
  private nextTransaction = 1;
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
    return new Promise<void>((resolve, reject) => {
      const id = this.nextPublish++;
      this.outbox.set(id, {
        id,
        destination,
        headers: { ...own, destination },
        body,
        resolve,
        reject,
        solo: false,
      });
      this.unsent.push(id);
      this.scheduleFlush();
    });
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
      client: undefined,
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
          c.client.destroy();
          resolve();
        }, 5_000);
        c.client.disconnect(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.lost(c);
    }
    for (const entry of this.outbox.values()) {
      entry.reject(
        new Error(`${this.name}: closed before the broker confirmed a message to ${entry.destination}`),
      );
    }
    this.outbox.clear();
    for (const sub of this.subscriptions) sub.active = false;
    this.subscriptions.clear();
  }

  // --- connection ---

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
    const socket = this.transport(endpoint);
    const h = this.heartbeatMs;
    const options = {
      // We promise `h` and send 10 % sooner, so the broker's read check never sees a gap. ActiveMQ only
      // sends a heart-beat when it wrote nothing for one whole check period, so gaps reach twice the
      // interval it was asked for: ask for h/2 and allow h/2 + 10 % of margin before calling it dead.
      heartbeat: h > 0 ? [h, Math.ceil(h / 2)] : [0, 0],
      heartbeatOutputMargin: Math.floor(h / 10),
      heartbeatDelayMargin: Math.ceil(h / 2) + Math.ceil(h / 10),
      // Read by stompit's frame parser (defaults 1024 bytes, 64 headers: ActiveMQ adds many of its own).
      maxLineLength: 64 * 1024,
      maxHeaders: 1024,
      outgoingFrameStream: new FrameOutput(socket),
    };
    const client = new stompit.Client(socket, options as never) as Client;
    this.connecting = client;
    const where = describeEndpoint(endpoint);
    return new Promise<Connection>((resolve, reject) => {
      const timeoutMs = this.config.connectTimeoutMs ?? 10_000;
      const timer = setTimeout(
        () => client.destroy(client.createTransportError(`no STOMP session within ${timeoutMs} ms`)),
        timeoutMs,
      );
      // stompit throws an 'error' event without a listener; errors after the handshake are handled in `established`.
      client.on('error', () => {});
      client.connect(
        { 'accept-version': '1.2', host: '/', login: this.config.user, passcode: this.config.password },
        (error: Error | null) => {
          clearTimeout(timer);
          if (this.connecting === client) this.connecting = undefined;
          if (error) {
            client.destroy();
            reject(
              new Error(
                this.scrub(
                  `${this.name}: cannot connect to ${where} as ${this.config.user}: ${error.message}`,
                ),
              ),
            );
          } else if (this.closing) {
            client.destroy();
            reject(new Error(`${this.name}: closed`));
          } else {
            // Wired up here, synchronously: an error right after the handshake must already find our listeners.
            resolve(this.established(client, endpoint));
          }
        },
      );
    });
  }

  private transport(endpoint: Endpoint): net.Socket {
    const socket = endpoint.tls
      ? tls.connect({
          host: endpoint.host,
          port: endpoint.port,
          ...(net.isIP(endpoint.host) ? {} : { servername: endpoint.host }),
          ...this.config.tls,
        })
      : net.connect({ host: endpoint.host, port: endpoint.port });
    if (this.config.noDelay === false) {
      // stompit turns TCP_NODELAY on itself when it sends heart-beats: keep it off for the comparison.
      socket.setNoDelay = () => socket;
    } else {
      // Without it a frame written in pieces (as stompit's own writer does) waits on Nagle plus delayed ACK:
      // ~22 msg/s at prefetch 1. Whole-frame writes (frame-output.ts) mostly avoid that; this makes sure.
      socket.setNoDelay(true);
      socket.once(endpoint.tls ? 'secureConnect' : 'connect', () => socket.setNoDelay(true));
    }
    return socket;
  }

  private established(client: Client, endpoint: Endpoint): Connection {
    const c: Connection = {
      client,
      endpoint,
      onErrorReceipt: new Map(),
      onLost: new Set(),
      inTransaction: new Map(),
      unconfirmed: 0,
    };
    this.current = c;
    this.failures = 0;
    client.on('error', (error: Error) => this.lost(c, error));
    client.on('end', () => this.lost(c));
    // stompit drops the connection on any ERROR frame; ActiveMQ keeps it after a refused SUBSCRIBE or SEND.
    client.setCommandHandler('ERROR', (frame) => this.onErrorFrame(c, frame as unknown as Frame));
    this.log(`connected to ${describeEndpoint(endpoint)} (${client.headers?.server ?? 'unknown server'})`);
    for (const sub of this.subscriptions) this.subscribeOn(c, sub);
    this.unsent = [...this.outbox.keys()];
    this.unsentHead = 0;
    this.scheduleFlush();
    return c;
  }

  private onErrorFrame(c: Connection, frame: Frame): void {
    const message = String(frame.headers.message ?? 'server sent ERROR frame');
    const receiptId = frame.headers['receipt-id'];
    frame.readString('utf-8', () => {
      const handler = receiptId === undefined ? undefined : c.onErrorReceipt.get(String(receiptId));
      if (handler) {
        c.onErrorReceipt.delete(String(receiptId));
        delete c.client._receipts[String(receiptId)];
        handler(message);
      } else {
        // Perhaps one SEND of a transaction: after the reconnect they go one by one, so the culprit is found.
        for (const batch of c.inTransaction.values()) for (const entry of batch) entry.solo = true;
        c.client.destroy(c.client.createApplicationError(message));
      }
    });
  }

  private lost(c: Connection, error?: Error): void {
    if (this.current !== c) return;
    this.current = undefined;
    for (const sub of this.subscriptions) sub.client = undefined;
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

  /** Sends a frame asking for a receipt; `onError` runs if the broker answers with an ERROR frame instead. */
  private sendWithReceipt(
    c: Connection,
    command: string,
    headers: Record<string, string>,
    body: string | undefined,
    onReceipt: () => void,
    onError: (message: string) => void,
  ): void {
    const frameHeaders: Record<string, string | number> = { ...headers };
    const frame = c.client.sendFrame(command, frameHeaders, {
      onReceipt: () => {
        c.onErrorReceipt.delete(String(frameHeaders.receipt));
        onReceipt();
      },
    } as stompit.Client.SendOptions);
    c.onErrorReceipt.set(String(frameHeaders.receipt), onError);
    if (body) frame.write(body);
    frame.end();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.current) return;
    this.flushScheduled = true;
    // After I/O callbacks: receipts that resolve publishes let their callers publish again into this batch.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Group commit: a persistent SEND with a receipt costs the broker one disk sync (~850/s here), a
   * transaction of many SENDs one sync at COMMIT. So what was published since the last flush goes in one
   * transaction whose COMMIT receipt confirms all of it; a lone message goes alone, with its own receipt.
   */
  private flush(): void {
    const c = this.current;
    if (!c) return;
    // One batch per event-loop turn, and a bounded number unconfirmed: the loop stays free to read
    // sockets (a consumer in this same process must not starve) and the broker is not flooded.
    const room = Math.min(maxBatch, maxUnconfirmed - c.unconfirmed);
    if (room <= 0) return;
    const batch: Outgoing[] = [];
    while (this.unsentHead < this.unsent.length && batch.length < room) {
      const entry = this.outbox.get(this.unsent[this.unsentHead] as number);
      if (entry?.solo && batch.length > 0) break;
      this.unsentHead++;
      if (!entry) continue;
      batch.push(entry);
      if (entry.solo) break;
    }
    if (this.unsentHead >= this.unsent.length) {
      this.unsent = [];
      this.unsentHead = 0;
    } else {
      this.scheduleFlush();
    }
    if (batch.length === 0) return;
    c.unconfirmed += batch.length;
    const settled = () => {
      c.unconfirmed -= batch.length;
      if (this.unsent.length > this.unsentHead) this.scheduleFlush();
    };
    if (batch.length === 1) this.sendOne(c, batch[0] as Outgoing, settled);
    else this.sendTransaction(c, batch, settled);
  }

  private confirm(entry: Outgoing): void {
    if (this.outbox.get(entry.id) !== entry) return;
    this.outbox.delete(entry.id);
    entry.resolve();
    if (this.outbox.size === 0) this.drained?.();
  }

  private sendOne(c: Connection, entry: Outgoing, settled: () => void): void {
    this.sendWithReceipt(
      c,
      'SEND',
      entry.headers,
      entry.body,
      () => {
        settled();
        this.confirm(entry);
      },
      (message) => {
        settled();
        if (this.outbox.get(entry.id) !== entry) return;
        this.outbox.delete(entry.id);
        if (this.outbox.size === 0) this.drained?.();
        entry.reject(
          new Error(`${this.name}: the broker refused a message to ${entry.destination}: ${message}`),
        );
      },
    );
  }

  private sendTransaction(c: Connection, batch: Outgoing[], settled: () => void): void {
    const transaction = `tx-${this.nextTransaction++}`;
    c.inTransaction.set(transaction, batch);
    c.client.sendFrame('BEGIN', { transaction }).end();
    for (const entry of batch) {
      const frame = c.client.sendFrame('SEND', { ...entry.headers, transaction });
      if (entry.body) frame.write(entry.body);
      frame.end();
    }
    this.sendWithReceipt(
      c,
      'COMMIT',
      { transaction },
      undefined,
      () => {
        c.inTransaction.delete(transaction);
        settled();
        for (const entry of batch) this.confirm(entry);
      },
      (message) => {
        // The transaction's fate is unknown: start afresh (the broker rolls back what is open) and send one by one.
        for (const entry of batch) entry.solo = true;
        c.client.destroy(c.client.createApplicationError(`COMMIT refused: ${message}`));
      },
    );
  }

  // --- consuming ---

  private subscribeOn(c: Connection, sub: LiveSubscription): void {
    c.client.setImplicitSubscription(sub.id as unknown as number, sub.ack, (error, frame) => {
      if (!error && frame) this.receive(c, sub, frame as unknown as Frame);
    });
    sub.client = c.client;
    this.sendWithReceipt(
      c,
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
        // A bad selector or a forbidden destination: re-subscribing would only fail again.
        this.subscriptions.delete(sub);
        sub.active = false;
        delete c.client._subscriptions[sub.id];
        this.log(`subscription to ${sub.headers.destination} refused: ${message}`);
        sub.ready.reject(
          new Error(
            `${this.name}: the broker refused a subscription to ${sub.headers.destination}: ${message}`,
          ),
        );
      },
    );
  }

  private receive(c: Connection, sub: LiveSubscription, frame: Frame): void {
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
        if (this.current !== c || sub.client !== c.client || !sub.active) return;
        // STOMP 1.2 needs only the MESSAGE's `ack` header: small ACK frames matter (see frame-output.ts).
        c.client.sendFrame(command, { id: headers.ack }).end();
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
    if (!c || sub.client !== c.client) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        c.onLost.delete(done);
        delete c.client._subscriptions[sub.id];
        resolve();
      };
      c.onLost.add(done);
      this.sendWithReceipt(c, 'UNSUBSCRIBE', { id: sub.id }, undefined, done, (message) => {
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
