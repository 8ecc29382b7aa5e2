import { afterEach, beforeEach, describe, expect, it, test, vi } from 'vitest';
import {
  type ContentInput,
  ContractError,
  DEFAULT_TTL_MS,
  decodeMessage,
  encodeMessage,
  MAX_BODY_BYTES,
  type Message,
  type MsgType,
  makeMessage,
  msgTypes,
  normaliseChecksum,
  parseMessage,
} from '#contract/messages.ts';

const at = '2026-07-20T14:03:23.000123Z';
const pilot = { hostname: 'pilot-node-3', id: 'pilot-7' };
const contents: { [T in MsgType]: ContentInput<T> } = {
  run_imminent: { num_workers: 2, num_cores_per_worker: 10, num_ram_per_core: 4000 },
  start_run: { state: 'run', substate: 'physics' },
  stf_gen: { filename: 'swf.100123.000001.stf', size: 1024, checksum: 'ad:0a1b2c3d' },
  pause_run: { reason: 'Brief standby period' },
  resume_run: {},
  end_run: { total_stf_files: 10 },
  run_stop: { req_id: 1 },
  stf_ready: { filename: 'swf.100123.000001.stf', size_bytes: 1024, checksum: 'ad:0a1b2c3d' },
  slice: { slice_id: 0, start: 0, end: 1, filename: 'swf.100123.000001.stf' },
  slice_result: { requested_at: at, processing_start_at: at, processed_at: at, state: 'done' },
  adjuster_worker: { num_workers: 0, num_cores_per_worker: 0, num_ram_per_core: 0, requested_at: at },
  stop_transformer: { requested_at: at },
  transformer_start: pilot,
  transformer_heartbeat: pilot,
  transformer_end: pilot,
};

function body(msgType: string, content: Record<string, unknown>) {
  return { msg_type: msgType, run_id: '100123', created_at: at, content };
}

function slice(content: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}) {
  return {
    msg_type: 'slice',
    run_id: '100123',
    created_at: at,
    content: { slice_id: 0, start: 0, end: 1, filename: 'swf.100123.000001.stf', ...content },
    ...envelope,
  };
}

function refusal(act: () => unknown): string {
  try {
    act();
  } catch (err) {
    if (err instanceof ContractError) return err.reason;
    throw err;
  }
  throw new Error('expected a ContractError');
}

describe('message round trip', () => {
  test.each(msgTypes)('decodes an encoded %s to the message that was made', (msgType) => {
    // Prepare
    const made = makeMessage(msgType, 100123, contents[msgType], {
      namespace: 'test-user',
      sender: 'agent-1',
    });

    // Act
    const { body, headers } = encodeMessage(made);
    const decoded = decodeMessage(body, { headers });

    // Assess
    expect(decoded).toStrictEqual(made);
    expect(decoded.msg_type).toBe(msgType);
    expect(decoded.run_id).toBe('100123');
  });
});

describe('makeMessage', () => {
  it('stamps created_at with the current time when none is given', () => {
    // Prepare
    const before = new Date().toISOString();

    // Act
    const msg = makeMessage('resume_run', '7', {});

    // Assess
    expect(msg.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(msg.created_at.slice(0, 16)).toBe(before.slice(0, 16));
  });

  it('normalises the timestamps it is given', () => {
    // Prepare
    const content = {
      requested_at: '2025-09-14T18:57:22.420185',
      processed_at: 'Mon, 20 Jul 2026 14:03:30 UTC',
    };

    // Act
    const msg = makeMessage('slice_result', 1, content, { createdAt: '2026-07-20T16:03:53.1+02:00' });

    // Assess
    expect(msg.created_at).toBe('2026-07-20T14:03:53.100000Z');
    expect(msg.content.requested_at).toBe('2025-09-14T18:57:22.420185Z');
    expect(msg.content.processed_at).toBe('2026-07-20T14:03:30.000000Z');
  });

  it('refuses to build a message that breaks its schema', () => {
    // Prepare
    const content = { num_workers: -1, num_cores_per_worker: 1, num_ram_per_core: 1, requested_at: at };

    // Act
    const reason = refusal(() => makeMessage('adjuster_worker', 1, content));

    // Assess
    expect(reason).toMatch(/^adjuster_worker\.content\.num_workers: /);
  });
});

describe('encodeMessage', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_784_556_191_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends the headers upstream consumers filter and expire on', () => {
    // Prepare
    const msg = makeMessage('slice', 100123, contents.slice, { namespace: 'test-user' });

    // Act
    const { headers } = encodeMessage(msg);

    // Assess
    expect(headers).toStrictEqual({
      persistent: 'true',
      msg_type: 'slice',
      run_id: '100123',
      namespace: 'test-user',
      vo: 'eic',
      expires: String(1_784_556_191_000 + DEFAULT_TTL_MS),
      ttl: '43200000',
    });
  });

  it('uses the given time to live and leaves out an absent namespace', () => {
    // Prepare
    const msg = makeMessage('end_run', 1, {});

    // Act
    const { headers } = encodeMessage(msg, { ttlMs: 60_000 });

    // Assess
    expect(headers.expires).toBe(String(1_784_556_191_000 + 60_000));
    expect(headers.ttl).toBe('60000');
    expect(headers).not.toHaveProperty('namespace');
  });

  it('writes the canonical envelope with the content nested', () => {
    // Prepare
    const msg = makeMessage('stf_ready', 5, contents.stf_ready, { createdAt: at });

    // Act
    const { body } = encodeMessage(msg);

    // Assess
    expect(JSON.parse(body)).toStrictEqual({
      msg_type: 'stf_ready',
      run_id: '5',
      created_at: at,
      content: { filename: 'swf.100123.000001.stf', size_bytes: 1024, size: 1024, checksum: 'ad:0a1b2c3d' },
    });
  });
});

describe('parseMessage', () => {
  it('keeps unknown top-level and content fields', () => {
    // Prepare
    const body = slice({ tf_filename: 'x.tf', nested: { a: [1, 2] } }, { execution_id: 'fast-0043' });

    // Act
    const msg = parseMessage(body);

    // Assess
    expect(msg.execution_id).toBe('fast-0043');
    expect(msg.content).toMatchObject({ tf_filename: 'x.tf', nested: { a: [1, 2] } });
  });

  it('nests a flat DAQ message and takes created_at from its timestamp', () => {
    // Prepare
    const body = {
      msg_type: 'stf_gen',
      namespace: 'test-user',
      sender: 'daq',
      run_id: '100123',
      timestamp: '2026-07-20T14:03:22.300000',
      filename: 'swf.100123.000001.stf',
      sequence: 1,
    };

    // Act
    const msg = parseMessage(body);

    // Assess
    expect(msg).toStrictEqual({
      msg_type: 'stf_gen',
      namespace: 'test-user',
      sender: 'daq',
      run_id: '100123',
      created_at: '2026-07-20T14:03:22.300000Z',
      content: { timestamp: '2026-07-20T14:03:22.300000', filename: 'swf.100123.000001.stf', sequence: 1 },
    });
  });

  test.each([
    ['epoch ms', 1_784_556_191_123, '2026-07-20T14:03:11.123000Z'],
    ['a timestamp string', '2026-07-20T14:03:11.123456', '2026-07-20T14:03:11.123456Z'],
  ])(
    'falls back to the receive time given as %s when the body has no time',
    (_kind, receivedAt, expected) => {
      // Prepare
      const body = { msg_type: 'stf_gen', run_id: 20250914185722, filename: 'legacy.stf' };

      // Act
      const msg = parseMessage(body, { receivedAt });

      // Assess
      expect(msg.created_at).toBe(expected);
      expect(msg.run_id).toBe('20250914185722');
    },
  );

  it('exposes size and total_stf_files under one name whichever the producer wrote', () => {
    // Prepare
    const stf = { msg_type: 'stf_ready', run_id: 1, created_at: at, filename: 'a.stf', size_bytes: 191 };
    const end = { msg_type: 'end_run', run_id: 1, created_at: at, total_files: 10 };

    // Act
    const stfMsg = parseMessage(stf);
    const endMsg = parseMessage(end);

    // Assess
    expect(stfMsg.msg_type === 'stf_ready' && stfMsg.content).toMatchObject({ size: 191, size_bytes: 191 });
    expect(endMsg.msg_type === 'end_run' && endMsg.content).toMatchObject({
      total_stf_files: 10,
      total_files: 10,
    });
  });

  it('accepts numbers sent as strings', () => {
    // Prepare
    const content = {
      num_workers: '2',
      num_cores_per_worker: '10',
      num_ram_per_core: '4000.0',
      requested_at: at,
    };
    const body = { msg_type: 'adjuster_worker', run_id: '1', created_at: at, content };

    // Act
    const msg = parseMessage(body) as Message<'adjuster_worker'>;

    // Assess
    expect(msg.content).toMatchObject({ num_workers: 2, num_cores_per_worker: 10, num_ram_per_core: 4000 });
  });

  it('gives handlers typed content once the type is known', () => {
    // Prepare
    const msg = parseMessage(slice());

    // Act
    const range = msg.msg_type === 'slice' ? msg.content.end - msg.content.start : undefined;

    // Assess
    expect(range).toBe(1);
  });
});

describe('refusals', () => {
  const adjuster = (workers: unknown) =>
    body('adjuster_worker', { ...contents.adjuster_worker, num_workers: workers });

  test.each([
    ['not JSON', '{"msg_type": ', /^not JSON: /],
    ['an empty body', '', /^empty body$/],
    ['a blank body', ' \n', /^empty body$/],
    ['an array body', '[1, 2]', /^body: expected a JSON object, got an array$/],
    ['a string body', '"slice"', /^body: expected a JSON object, got string$/],
    ['a null body', 'null', /^body: expected a JSON object, got null$/],
    [
      'a run_id too large to read exactly',
      JSON.stringify(slice()).replace('"100123"', '12345678901234567890'),
      /^slice\.run_id: expected digits, got 12345678901234567000$/,
    ],
  ])('refuses %s with a reason', (_case, raw, reason) => {
    // Prepare
    // Act
    const got = refusal(() => decodeMessage(raw));

    // Assess
    expect(got).toMatch(reason);
  });

  test.each([
    ['a missing msg_type', { run_id: '1', created_at: at, content: {} }, 'msg_type: required'],
    ['an unknown msg_type', { ...slice(), msg_type: 'foo' }, 'unknown msg_type "foo"'],
    ['run_id "abc"', slice({}, { run_id: 'abc' }), 'slice.run_id: expected digits, got "abc"'],
    ['a negative run_id', slice({}, { run_id: -1 }), 'slice.run_id: expected digits, got -1'],
    ['a boolean run_id', slice({}, { run_id: true }), 'slice.run_id: expected digits, got true'],
    ['a missing run_id', slice({}, { run_id: undefined }), 'slice.run_id: required'],
    [
      'a bad created_at',
      slice({}, { created_at: '2026-13-01T00:00:00' }),
      'slice.created_at: invalid timestamp "2026-13-01T00:00:00"',
    ],
    [
      'a bad requested_at',
      slice({ requested_at: 'soon' }),
      'slice.content.requested_at: invalid timestamp "soon"',
    ],
    ['no time at all', { msg_type: 'stf_gen', run_id: 1, filename: 'a.stf' }, 'stf_gen.created_at: required'],
    ['a content that is not an object', slice({}, { content: 'x' }), 'slice.content: '],
    ['a missing filename', body('stf_gen', {}), 'stf_gen.content.filename: required'],
    ['a missing slice_id', slice({ slice_id: undefined }), 'slice.content.slice_id: required'],
    [
      'a range that ends before it starts',
      slice({ start: 5, end: 4 }),
      'slice.content.end: must not be before start',
    ],
    [
      'a fractional slice_id',
      slice({ slice_id: 1.5 }),
      'slice.content.slice_id: Invalid input: expected int',
    ],
    [
      'a bad checksum',
      body('stf_gen', { filename: 'a', checksum: 'md5:x' }),
      'stf_gen.content.checksum: invalid checksum "md5:x"',
    ],
    [
      'sizes that disagree',
      body('stf_ready', { filename: 'a', size: 1, size_bytes: 2 }),
      'stf_ready.content.size: disagrees with size_bytes',
    ],
    [
      'an unknown result state',
      body('slice_result', { requested_at: at, processed_at: at, state: 'ok' }),
      'slice_result.content.state: ',
    ],
    [
      'a negative num_workers',
      adjuster(-1),
      'adjuster_worker.content.num_workers: Too small: expected number to be >=0',
    ],
    [
      'a num_workers that is not a number',
      adjuster('two'),
      'adjuster_worker.content.num_workers: expected a number, got "two"',
    ],
  ])('refuses %s with a reason naming the field', (_case, message, reason) => {
    // Prepare
    const raw = JSON.stringify(message);

    // Act
    const got = refusal(() => decodeMessage(raw));

    // Assess
    expect(got.startsWith(reason)).toBe(true);
  });

  it('refuses a body over the size limit, giving both sizes', () => {
    // Prepare
    const raw = Buffer.from(JSON.stringify(slice({ padding: 'x'.repeat(MAX_BODY_BYTES) })));

    // Act
    const reason = refusal(() => decodeMessage(raw));

    // Assess
    expect(reason).toBe(`body is ${raw.byteLength} bytes, over the limit of 1048576 bytes`);
  });

  it('accepts a body of exactly the size limit', () => {
    // Prepare
    const base = JSON.stringify(slice({ padding: '' }));
    const raw = JSON.stringify(slice({ padding: 'x'.repeat(MAX_BODY_BYTES - base.length) }));

    // Act
    const msg = decodeMessage(raw);

    // Assess
    expect(Buffer.byteLength(raw)).toBe(MAX_BODY_BYTES);
    expect(msg.msg_type).toBe('slice');
  });

  test.each([
    [
      'run_id',
      { msg_type: 'slice', run_id: '100124' },
      /^header run_id "100124" disagrees with the body's "100123"$/,
    ],
    [
      'msg_type',
      { msg_type: 'slice_result', run_id: '100123' },
      /^header msg_type "slice_result" disagrees with the body's "slice"$/,
    ],
  ])('refuses a message whose header %s disagrees with the body', (_field, headers, reason) => {
    // Prepare
    const raw = JSON.stringify(slice());

    // Act
    const got = refusal(() => decodeMessage(raw, { headers }));

    // Assess
    expect(got).toMatch(reason);
  });

  it('refuses to encode a message that was altered into an invalid one', () => {
    // Prepare
    const msg = makeMessage('slice', 1, contents.slice);
    const altered = { ...msg, content: { ...msg.content, slice_id: -1 } };

    // Act
    const reason = refusal(() => encodeMessage(altered));

    // Assess
    expect(reason).toMatch(/^slice\.content\.slice_id: /);
  });
});

describe('normaliseChecksum', () => {
  test.each([
    ['ad:0a1b2c3d', 'ad:0a1b2c3d'],
    ['ad:0A1B2C3D', 'ad:0a1b2c3d'],
    ['ad:3915264619', 'ad:e95e326b'],
    ['ad:191', 'ad:000000bf'],
    ['ad:4294967295', 'ad:ffffffff'],
    ['ad:12345678', 'ad:12345678'],
  ])('turns %s into %s', (input, expected) => {
    // Prepare
    // Act
    const normalised = normaliseChecksum(input);

    // Assess
    expect(normalised).toBe(expected);
  });

  test.each([
    'ad:4294967296',
    'ad:',
    '0a1b2c3d',
    'ad:0a1b2c3',
    'ad:0a1b2c3d4',
    'ad:-1',
    'md5:0a1b2c3d',
    'ad:xyz',
  ])('refuses %s', (input) => {
    // Prepare
    // Act
    const act = () => normaliseChecksum(input);

    // Assess
    expect(act).toThrow(`invalid checksum ${JSON.stringify(input)}`);
  });
});
