import type { StompitSession } from './stompit-session.ts';

/** A published message until the broker confirms or refuses it. */
export interface Outgoing {
  readonly id: number;
  readonly destination: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** Send alone with its own receipt: it was in a transaction the broker answered with an ERROR. */
  solo: boolean;
}

/** The connection a batch goes out on, with what is in flight on it. */
export interface Outlet {
  readonly session: StompitSession;
  /** Messages in transactions whose COMMIT is not confirmed yet. */
  readonly inTransaction: Map<string, Outgoing[]>;
  /** Messages sent on this connection and not yet confirmed or refused. */
  unconfirmed: number;
}

/** Messages per transaction at most (the broker holds a transaction in memory until COMMIT). */
const maxBatch = 500;
/** Messages sent and not yet confirmed at most, per connection: two transactions in flight. */
const maxUnconfirmed = 2 * maxBatch;

/** After an ERROR no receipt explains, the messages of open transactions go one by one, so the culprit is found. */
export function sendAloneNextTime(outlet: Outlet): void {
  for (const batch of outlet.inTransaction.values()) for (const entry of batch) entry.solo = true;
}

/**
 * Publishes not yet confirmed by a receipt, in the order they were made, sent in group commits on the
 * current connection and sent again after a reconnect.
 */
export class Outbox {
  private readonly entries = new Map<number, Outgoing>();
  /** Ids of entries not yet sent on the current connection. */
  private unsent: number[] = [];
  private unsentHead = 0;
  private flushScheduled = false;
  private nextId = 1;
  private nextTransaction = 1;

  /**
   * @param name names the connection in errors
   * @param current the connection to send on, if there is one
   * @param emptied runs whenever the last waiting message is confirmed or refused
   */
  constructor(
    private readonly name: string,
    private readonly current: () => Outlet | undefined,
    private readonly emptied: () => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Queues a message; resolves once the broker confirmed it, rejects if it refused it. */
  add(destination: string, headers: Record<string, string>, body: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      this.entries.set(id, { id, destination, headers, body, resolve, reject, solo: false });
      this.unsent.push(id);
      this.scheduleFlush();
    });
  }

  /** A new connection: whatever is unconfirmed goes out again, in its order. */
  resend(): void {
    this.unsent = [...this.entries.keys()];
    this.unsentHead = 0;
    this.scheduleFlush();
  }

  /** Rejects every waiting message (the port is closed). */
  rejectAll(): void {
    for (const entry of this.entries.values()) {
      entry.reject(
        new Error(`${this.name}: closed before the broker confirmed a message to ${entry.destination}`),
      );
    }
    this.entries.clear();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.current()) return;
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
    const c = this.current();
    if (!c) return;
    // One batch per event-loop turn, and a bounded number unconfirmed: the loop stays free to read
    // sockets (a consumer in this same process must not starve) and the broker is not flooded.
    const room = Math.min(maxBatch, maxUnconfirmed - c.unconfirmed);
    if (room <= 0) return;
    const batch: Outgoing[] = [];
    while (this.unsentHead < this.unsent.length && batch.length < room) {
      const entry = this.entries.get(this.unsent[this.unsentHead] as number);
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
    if (this.entries.get(entry.id) !== entry) return;
    this.entries.delete(entry.id);
    entry.resolve();
    if (this.entries.size === 0) this.emptied();
  }

  private sendOne(c: Outlet, entry: Outgoing, settled: () => void): void {
    c.session.sendWithReceipt(
      'SEND',
      entry.headers,
      entry.body,
      () => {
        settled();
        this.confirm(entry);
      },
      (message) => {
        settled();
        if (this.entries.get(entry.id) !== entry) return;
        this.entries.delete(entry.id);
        if (this.entries.size === 0) this.emptied();
        entry.reject(
          new Error(`${this.name}: the broker refused a message to ${entry.destination}: ${message}`),
        );
      },
    );
  }

  private sendTransaction(c: Outlet, batch: Outgoing[], settled: () => void): void {
    const transaction = `tx-${this.nextTransaction++}`;
    c.inTransaction.set(transaction, batch);
    c.session.send('BEGIN', { transaction });
    for (const entry of batch) c.session.send('SEND', { ...entry.headers, transaction }, entry.body);
    c.session.sendWithReceipt(
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
        c.session.destroy(`COMMIT refused: ${message}`);
      },
    );
  }
}
