import * as net from 'node:net';
import * as tls from 'node:tls';
// The client alone: stompit's index also loads its failover and channel modules (and qs), which we never use.
import StompitClient from 'stompit/lib/Client.js';
import type { Endpoint } from './broker-url.ts';
import { FrameOutput } from './frame-output.ts';

/**
 * The one home of stompit (1.0.0) in this project: every use of its internals sits in this file, each with
 * the stompit behaviour it works around, and test/integration/broker/stompit-*.test.ts fails if one changes.
 */

/** stompit's Client with the internals used below (stompit 1.0, which @types/stompit omits). */
type Client = StompitClient & {
  _receipts: Record<string, () => void>;
  _subscriptions: Record<string, unknown>;
  headers?: Record<string, string>;
  destroy(exception?: Error): void;
};

/** A frame as stompit hands it over: headers first, the body read on demand. */
export type IncomingFrame = NodeJS.ReadableStream & {
  command: string;
  headers: Record<string, string | number>;
  readString(encoding: string, callback: (error: Error | null, body?: string) => void): void;
};

export interface SessionOptions {
  /** Heart-beat interval both ways; 0 turns them off. */
  readonly heartbeatMs: number;
  /** Extra options for TLS endpoints. */
  readonly tls?: tls.ConnectionOptions;
  /** false only for the benchmark, to measure what TCP_NODELAY is worth. */
  readonly noDelay: boolean;
}

/** One STOMP connection through stompit, offering receipts the broker may refuse and subscriptions we confirm. */
export class StompitSession {
  private readonly client: Client;
  /** What a broker ERROR frame with a `receipt-id` refers to. */
  private readonly onRefusal = new Map<string, (message: string) => void>();

  constructor(endpoint: Endpoint, o: SessionOptions) {
    const socket = transport(endpoint, o);
    const h = o.heartbeatMs;
    const options = {
      // We promise `h` and send 10 % sooner, so the broker's read check never sees a gap. ActiveMQ only
      // sends a heart-beat when it wrote nothing for one whole check period, so gaps reach twice the
      // interval it was asked for: ask for h/2 and allow h/2 + 10 % of margin before calling it dead.
      heartbeat: h > 0 ? [h, Math.ceil(h / 2)] : [0, 0],
      heartbeatOutputMargin: Math.floor(h / 10),
      heartbeatDelayMargin: Math.ceil(h / 2) + Math.ceil(h / 10),
      // stompit's frame parser refuses longer lines and more headers than its defaults (1024 bytes, 64
      // headers), and ActiveMQ adds many headers of its own; the options are read but not typed.
      maxLineLength: 64 * 1024,
      maxHeaders: 1024,
      // stompit's own writer sends a frame in several socket writes (see frame-output.ts).
      outgoingFrameStream: new FrameOutput(socket),
    };
    this.client = new StompitClient(socket, options as never) as Client;
  }

  /** Sends CONNECT; `done` gets the error if the handshake fails. */
  connect(headers: Record<string, string>, done: (error: Error | null) => void): void {
    // stompit emits 'error' with no listener, which throws; errors after the handshake go to `watch`.
    this.client.on('error', () => {});
    this.client.connect(headers, done);
  }

  /** After the handshake: `lost` when the connection goes, `unmatched` for an ERROR frame no receipt explains. */
  watch(lost: (error?: Error) => void, unmatched: (message: string) => void): void {
    this.client.on('error', (error: Error) => lost(error));
    this.client.on('end', () => lost());
    // stompit drops the connection on any ERROR frame; ActiveMQ keeps it after a refused SUBSCRIBE or SEND.
    this.client.setCommandHandler('ERROR', (frame) =>
      this.onErrorFrame(frame as unknown as IncomingFrame, unmatched),
    );
  }

  /** The broker's `server` header, which stompit keeps from the CONNECTED frame on an undeclared field. */
  get server(): string | undefined {
    return this.client.headers?.server;
  }

  private onErrorFrame(frame: IncomingFrame, unmatched: (message: string) => void): void {
    const message = String(frame.headers.message ?? 'server sent ERROR frame');
    const receiptId = frame.headers['receipt-id'];
    frame.readString('utf-8', () => {
      const handler = receiptId === undefined ? undefined : this.onRefusal.get(String(receiptId));
      if (handler) {
        this.onRefusal.delete(String(receiptId));
        // stompit forgets a receipt callback only when its RECEIPT comes, which a refused frame never gets.
        delete this.client._receipts[String(receiptId)];
        handler(message);
      } else {
        unmatched(message);
      }
    });
  }

  /** Sends a frame asking for a receipt; `onRefused` runs if the broker answers with an ERROR frame instead. */
  sendWithReceipt(
    command: string,
    headers: Record<string, string>,
    body: string | undefined,
    onReceipt: () => void,
    onRefused: (message: string) => void,
  ): void {
    const frameHeaders: Record<string, string | number> = { ...headers };
    // stompit picks the receipt id and writes it into the headers object it is given: read it back there.
    const frame = this.client.sendFrame(command, frameHeaders, {
      onReceipt: () => {
        this.onRefusal.delete(String(frameHeaders.receipt));
        onReceipt();
      },
    } as StompitClient.SendOptions);
    this.onRefusal.set(String(frameHeaders.receipt), onRefused);
    if (body) frame.write(body);
    frame.end();
  }

  /** Sends a frame without a receipt. */
  send(command: string, headers: Record<string, string>, body?: string): void {
    const frame = this.client.sendFrame(command, headers);
    if (body) frame.write(body);
    frame.end();
  }

  /** Routes the MESSAGE frames of subscription `id` to `onFrame`; the SUBSCRIBE frame is the caller's to send. */
  listen(id: string, ack: 'auto' | 'client-individual', onFrame: (frame: IncomingFrame) => void): void {
    // stompit's subscribe() sends SUBSCRIBE without a receipt, so a refusal could not be told from success.
    this.client.setImplicitSubscription(id as unknown as number, ack, (error, frame) => {
      if (!error && frame) onFrame(frame as unknown as IncomingFrame);
    });
  }

  /**
   * Forgets subscription `id`, once the broker sends it nothing more: stompit keeps an implicit subscription
   * forever, and drops the connection on a MESSAGE for an id it does not know.
   */
  forget(id: string): void {
    delete this.client._subscriptions[id];
  }

  /** Sends DISCONNECT; `done` runs once the broker confirmed it (after every frame sent before). */
  disconnect(done: () => void): void {
    this.client.disconnect(done);
  }

  /** Drops the connection; `error` (an application error) reaches the `lost` callback. */
  destroy(error?: string): void {
    this.client.destroy(error === undefined ? undefined : this.client.createApplicationError(error));
  }

  /** Drops the connection as a transport failure (a handshake that took too long). */
  abandon(reason: string): void {
    this.client.destroy(this.client.createTransportError(reason));
  }
}

function transport(endpoint: Endpoint, o: SessionOptions): net.Socket {
  const socket = endpoint.tls
    ? tls.connect({
        host: endpoint.host,
        port: endpoint.port,
        ...(net.isIP(endpoint.host) ? {} : { servername: endpoint.host }),
        ...o.tls,
      })
    : net.connect({ host: endpoint.host, port: endpoint.port });
  if (o.noDelay === false) {
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
