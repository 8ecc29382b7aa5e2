import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';

type Callback = (error?: Error | null) => void;

const escapes: Record<string, [RegExp, string][]> = {
  '1.0': [],
  '1.1': [
    [/\\/g, '\\\\'],
    [/\n/g, '\\n'],
    [/:/g, '\\c'],
  ],
  '1.2': [
    [/\\/g, '\\\\'],
    [/\r/g, '\\r'],
    [/\n/g, '\\n'],
    [/:/g, '\\c'],
  ],
};

/**
 * Replaces stompit's OutgoingFrameStream (passed as its `outgoingFrameStream` option). stompit writes a
 * frame in two or three socket writes, each after the previous one's callback, so with TCP_NODELAY every
 * frame leaves as two or three tiny segments. That hangs connections: ActiveMQ stops reading a connection
 * while it is blocked writing to it (one lock for both), its fixed 128 KiB receive buffer fills with tiny
 * segments (memory per segment, not bytes, runs out) before its window closes, the kernel drops one, and
 * every later segment of ours lies beyond the now closed window and is discarded with the TCP ACK it
 * carries; the broker's write never completes. That was the one-process stall of the architecture note.
 * Here a frame is one buffer, and the frames of one event-loop turn leave in one write.
 */
export class FrameOutput {
  private escape: [RegExp, string][] = [];
  private buffers: Buffer[] = [];
  private callbacks: Callback[] = [];
  private scheduled = false;
  private blocked = false;
  private finished = false;

  constructor(private readonly socket: Writable) {
    const finish = () => {
      this.finished = true;
    };
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('finish', finish);
    socket.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  /** Called by stompit: CONNECT goes unescaped, later frames as the negotiated version wants. */
  setVersion(version: string): boolean {
    const e = escapes[version];
    if (!e) return false;
    this.escape = e;
    return true;
  }

  frame(command: string, headers: Record<string, unknown> = {}): OutgoingFrame {
    return new OutgoingFrame(this, command, headers);
  }

  heartbeat(): void {
    if (this.buffers.length === 0 && !this.finished) this.socket.write('\n');
  }

  finish(): void {
    this.finished = true;
  }

  hasFinished(): boolean {
    return this.finished;
  }

  encode(value: unknown): string {
    let s = String(value);
    for (const [pattern, replacement] of this.escape) s = s.replace(pattern, replacement);
    return s;
  }

  push(frame: Buffer, done: Callback): void {
    if (this.finished) {
      process.nextTick(done, new Error('cannot send frame on closed stream'));
      return;
    }
    this.buffers.push(frame);
    this.callbacks.push(done);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.blocked || this.buffers.length === 0) return;
    const data = this.buffers.length === 1 ? (this.buffers[0] as Buffer) : Buffer.concat(this.buffers);
    const callbacks = this.callbacks;
    this.buffers = [];
    this.callbacks = [];
    if (this.finished) {
      for (const cb of callbacks) cb(new Error('cannot send frame on closed stream'));
      return;
    }
    // Past the high-water mark wait for 'drain': frames gather meanwhile and leave together.
    this.blocked = !this.socket.write(data, (error) => {
      for (const cb of callbacks) cb(error);
    });
  }
}

/** The little of a Writable that stompit's Client uses on a frame: write, end, and an 'error' event. */
class OutgoingFrame extends EventEmitter {
  private readonly body: Buffer[] = [];
  private ended = false;

  constructor(
    private readonly output: FrameOutput,
    readonly command: string,
    readonly headers: Record<string, unknown>,
  ) {
    super();
  }

  write(chunk: string | Buffer, encoding?: BufferEncoding | Callback, cb?: Callback): boolean {
    const callback = typeof encoding === 'function' ? encoding : cb;
    if (this.ended) {
      process.nextTick(() => this.fail(new Error('cannot write on closed stream'), callback));
      return false;
    }
    this.body.push(
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
        : chunk,
    );
    if (callback) process.nextTick(callback);
    return true;
  }

  end(chunk?: string | Buffer | Callback, encoding?: BufferEncoding | Callback, cb?: Callback): this {
    if (typeof chunk === 'function') return this.end(undefined, undefined, chunk);
    if (typeof encoding === 'function') return this.end(chunk, undefined, encoding);
    if (chunk !== undefined && chunk !== null && chunk.length > 0) this.write(chunk, encoding);
    if (this.ended) return this;
    this.ended = true;
    let head = `${this.output.encode(this.command)}\n`;
    for (const [key, value] of Object.entries(this.headers)) {
      if (value !== null && value !== undefined)
        head += `${this.output.encode(key)}:${this.output.encode(value)}\n`;
    }
    const frame = Buffer.concat([Buffer.from(`${head}\n`, 'utf8'), ...this.body, Buffer.from('\0\n')]);
    this.output.push(frame, (error) => (error ? this.fail(error, cb) : cb?.()));
    return this;
  }

  private fail(error: Error, cb: Callback | undefined): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    cb?.(error);
  }
}
