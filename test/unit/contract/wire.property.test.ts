import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContractError, decodeMessage, type Message, type MsgType, msgTypes } from '#contract/messages.ts';
import { fromEpochMicros, parseTimestamp } from '#contract/timestamps.ts';
import { canonicalSlice } from '#contract/wire.ts';

// canonicalSlice answers undefined for "not mine": the pilot then takes decodeMessage, which accepts or refuses.
// So the wire decoder may leave more to the contract, but must never accept what the contract refuses, nor
// read a body differently from it.

interface Sample {
  source: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}
type Body = Record<string, unknown>;

// A copy of ../shared/reference/upstream-messages.json: CI's clean clone has only the repository.
const samples: Sample[] = JSON.parse(
  readFileSync(new URL('../../fixtures/upstream-messages.json', import.meta.url), 'utf8'),
);
const heartbeat = samples.find((s) => s.body.msg_type === 'transformer_heartbeat') as Sample;
// No sample of transformer_start or transformer_end exists upstream: they share the heartbeat's shape.
const seeds: Sample[] = [
  ...samples,
  ...(['transformer_start', 'transformer_end'] as const).map((t) => ({
    ...heartbeat,
    headers: { ...heartbeat.headers, msg_type: t },
    body: { ...heartbeat.body, msg_type: t },
  })),
];
const seedsOf = (t: MsgType) => seeds.filter((s) => s.body.msg_type === t);
const sliceSeed = seedsOf('slice')[0] as Sample;
// The broker's receive time, for the legacy stf_gen that carries no time at all.
const receivedAt = Date.UTC(2025, 8, 14, 18, 57, 24, 767);

const attempt = (raw: string, headers: Record<string, string> = {}): Message | ContractError => {
  try {
    return decodeMessage(raw, { headers });
  } catch (err) {
    if (err instanceof ContractError) return err;
    throw err;
  }
};

const runIds = fc.bigInt({ min: 0n, max: 10n ** 14n }).map(String);
const canonicalTimes = fc
  .integer({ min: Date.UTC(1970, 0, 1) * 1000, max: Date.UTC(2100, 0, 1) * 1000 })
  .map(fromEpochMicros);
// Upstream agents add fields of their own; the `x_` prefix keeps them clear of every field the contract reads.
const extras = fc.dictionary(fc.stringMatching(/^x_[a-z0-9_]{1,10}$/), fc.jsonValue(), { maxKeys: 3 });
const optionalText = fc.option(fc.string(), { nil: undefined });

/** A slice in the form our producers send it: nested, canonical created_at, numbers as numbers. */
const canonicalSlices = fc
  .record({
    run_id: runIds,
    created_at: canonicalTimes,
    namespace: optionalText,
    sender: optionalText,
    slice_id: fc.nat(),
    start: fc.nat(),
    length: fc.nat({ max: 10_000 }),
    filename: fc.string({ minLength: 1 }),
    top: extras,
    content: extras,
    withHeaders: fc.boolean(),
  })
  .map((g) => {
    const body: Body = {
      ...g.top,
      msg_type: 'slice',
      run_id: g.run_id,
      created_at: g.created_at,
      ...(g.namespace !== undefined && { namespace: g.namespace }),
      ...(g.sender !== undefined && { sender: g.sender }),
      content: {
        ...(sliceSeed.body.content as Body),
        ...g.content,
        slice_id: g.slice_id,
        start: g.start,
        end: g.start + g.length,
        filename: g.filename,
      },
    };
    const headers: Record<string, string> = g.withHeaders ? { msg_type: 'slice', run_id: g.run_id } : {};
    return { body, headers, extras: { top: g.top, content: g.content } };
  });

/** A seed of type t with its own run, time and extra fields: a message the contract accepts. */
const messagesOf = (t: MsgType) =>
  fc
    .record({ seed: fc.constantFrom(...seedsOf(t)), run: runIds, at: canonicalTimes, more: extras })
    .map((g) => {
      const body: Body = { ...g.seed.body, ...g.more };
      body.run_id = typeof g.seed.body.run_id === 'number' ? Number(g.run) : g.run;
      for (const key of ['created_at', 'timestamp']) if (key in body) body[key] = g.at;
      const headers = { ...g.seed.headers, ...(g.seed.headers.run_id !== undefined && { run_id: g.run }) };
      return { body, headers };
    });

const notJson = fc.string().filter((s) => {
  try {
    JSON.parse(s);
    return false;
  } catch {
    return true;
  }
});
const notCount = fc.oneof(
  fc.integer({ max: -1 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n)),
  fc.string().filter((s) => !/^-?\d+(\.\d+)?$/.test(s)),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.nat(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
);
const notText = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 2 }),
);
const notTime = fc.oneof(
  notText,
  fc.string().filter((s) => {
    try {
      parseTimestamp(s);
      return false;
    } catch {
      return true;
    }
  }),
);
const notRunId = fc.oneof(
  fc.integer({ max: -1 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n)),
  fc.string().filter((s) => !/^\d+$/.test(s)),
  fc.boolean(),
  fc.constant(null),
);

type Edit = (body: Body, content: Body) => void;
const set =
  (path: 'top' | 'content', key: string) =>
  (value: unknown): Edit =>
  (body, content) => {
    (path === 'top' ? body : content)[key] = value;
  };
const remove =
  (path: 'top' | 'content', key: string): Edit =>
  (body, content) => {
    delete (path === 'top' ? body : content)[key];
  };

/** One change that makes a canonical slice one the contract refuses: a wrong type or a missing field. */
const refusedEdits: fc.Arbitrary<{ what: string; edit: Edit }> = fc.oneof(
  ...(['msg_type', 'run_id', 'created_at', 'content'] as const).map((k) =>
    fc.constant({ what: `no ${k}`, edit: remove('top', k) }),
  ),
  ...(['slice_id', 'start', 'end', 'filename'] as const).map((k) =>
    fc.constant({ what: `no content.${k}`, edit: remove('content', k) }),
  ),
  notRunId.map((v) => ({ what: `run_id ${JSON.stringify(v)}`, edit: set('top', 'run_id')(v) })),
  notTime.map((v) => ({ what: `created_at ${JSON.stringify(v)}`, edit: set('top', 'created_at')(v) })),
  ...(['namespace', 'sender'] as const).map((k) =>
    notText.map((v) => ({ what: `${k} ${JSON.stringify(v)}`, edit: set('top', k)(v) })),
  ),
  fc
    .oneof(notText, fc.string())
    .map((v) => ({ what: `content ${JSON.stringify(v)}`, edit: set('top', 'content')(v) })),
  ...(['slice_id', 'start', 'end'] as const).map((k) =>
    notCount.map((v) => ({ what: `content.${k} ${JSON.stringify(v)}`, edit: set('content', k)(v) })),
  ),
  fc
    .oneof(notText, fc.constant(''))
    .map((v) => ({ what: `content.filename ${JSON.stringify(v)}`, edit: set('content', 'filename')(v) })),
  fc.nat().map((k) => ({
    what: `content.end ${k + 1} before start`,
    edit: (_: Body, c: Body) => {
      c.end = Number(c.start) - 1 - k;
    },
  })),
  fc
    .string()
    .filter((t) => !(msgTypes as readonly string[]).includes(t))
    .map((t) => ({ what: `msg_type ${JSON.stringify(t)}`, edit: set('top', 'msg_type')(t) })),
);

/** Bodies the contract accepts only after normalising them: the wire decoder leaves each to it. */
const normalisedEdits: fc.Arbitrary<{ what: string; edit: Edit }> = fc.oneof(
  fc.constant({
    what: 'a numeric run_id',
    edit: (b: Body) => {
      b.run_id = Number(b.run_id);
    },
  }),
  fc.constant({
    what: 'a naive created_at',
    edit: (b: Body) => {
      b.created_at = String(b.created_at).replace('Z', '');
    },
  }),
  fc.constant({
    what: 'upstream timestamp instead of created_at',
    edit: (b: Body) => {
      b.timestamp = b.created_at;
      delete b.created_at;
    },
  }),
  ...(['slice_id', 'start', 'end'] as const).map((k) =>
    fc.constant({
      what: `content.${k} as a string`,
      edit: (_: Body, c: Body) => {
        c[k] = String(c[k]);
      },
    }),
  ),
  ...(['requested_at', 'processing_start_at', 'processed_at'] as const).map((k) =>
    canonicalTimes.map((at) => ({ what: `content.${k}`, edit: set('content', k)(at) })),
  ),
);

const edited = (body: Body, edit: Edit): string => {
  const copy = structuredClone(body);
  edit(copy, isObject(copy.content) ? copy.content : {});
  return JSON.stringify(copy);
};
const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);

describe('Wire decoder against the contract', () => {
  it('reads every canonical slice exactly as decodeMessage does, extra fields kept', () => {
    fc.assert(
      fc.property(canonicalSlices, ({ body, headers, extras: kept }) => {
        // Prepare
        const raw = JSON.stringify(body);

        // Act
        const fast = canonicalSlice(raw, headers);

        // Assess
        expect(fast).toBeDefined();
        expect(fast).toEqual(decodeMessage(raw, { headers }));
        expect(fast).toMatchObject(JSON.parse(JSON.stringify({ ...kept.top, content: kept.content })));
      }),
    );
  });

  it.each(msgTypes.map((t) => [t]))(
    'agrees with decodeMessage on %s messages shaped like upstream samples: the pilot reads only slices',
    (t) => {
      fc.assert(
        fc.property(messagesOf(t), ({ body, headers }) => {
          // Prepare
          const canonical = JSON.stringify(decodeMessage(JSON.stringify(body), { headers, receivedAt }));

          // Act
          const fast = canonicalSlice(canonical, headers);

          // Assess
          if (t === 'slice') expect(fast).toEqual(decodeMessage(canonical, { headers }));
          else expect(fast).toBeUndefined();
        }),
        { numRuns: 30 },
      );
    },
  );

  it('refuses, as the contract does, a slice with a wrong type or a missing field', () => {
    fc.assert(
      fc.property(canonicalSlices, refusedEdits, ({ body, headers }, { what, edit }) => {
        // Prepare
        const raw = edited(body, edit);

        // Act
        const fast = canonicalSlice(raw, headers);
        const slow = attempt(raw, headers);

        // Assess
        expect(slow, what).toBeInstanceOf(ContractError);
        expect(fast, what).toBeUndefined();
      }),
    );
  });

  it('refuses, as the contract does, a body that is not JSON or was cut short', () => {
    const bodies = fc.oneof(
      notJson,
      canonicalSlices.chain(({ body }) => {
        const raw = JSON.stringify(body);
        return fc.nat({ max: raw.length - 1 }).map((n) => raw.slice(0, n));
      }),
    );
    fc.assert(
      fc.property(bodies, (raw) => {
        // Act
        const fast = canonicalSlice(raw, {});
        const slow = attempt(raw);

        // Assess
        expect(slow).toBeInstanceOf(ContractError);
        expect(fast).toBeUndefined();
      }),
    );
  });

  it('refuses, as the contract does, a slice whose headers name another run or type', () => {
    const disagreeing: fc.Arbitrary<Record<string, string>> = fc.oneof(
      runIds.map((run) => ({ run_id: run })),
      fc.constantFrom(...msgTypes.filter((t) => t !== 'slice')).map((t) => ({ msg_type: t })),
    );
    fc.assert(
      fc.property(canonicalSlices, disagreeing, ({ body }, header) => {
        fc.pre(header.run_id !== body.run_id);
        // Prepare
        const raw = JSON.stringify(body);

        // Act
        const fast = canonicalSlice(raw, header);
        const slow = attempt(raw, header);

        // Assess
        expect(slow).toBeInstanceOf(ContractError);
        expect(fast).toBeUndefined();
      }),
    );
  });

  it('leaves to the contract, which accepts it, a slice that needs normalising', () => {
    fc.assert(
      fc.property(canonicalSlices, normalisedEdits, ({ body, headers }, { what, edit }) => {
        // Prepare
        const raw = edited(body, edit);

        // Act
        const fast = canonicalSlice(raw, headers);
        const slow = attempt(raw, headers);

        // Assess
        expect(slow, what).not.toBeInstanceOf(ContractError);
        expect(fast, what).toBeUndefined();
      }),
    );
  });

  it('never accepts what the contract refuses nor reads a body otherwise, whatever a field holds', () => {
    const fields = fc.constantFrom(
      ...['msg_type', 'run_id', 'created_at', 'namespace', 'sender', 'content'].map(
        (k) => ['top', k] as const,
      ),
      ...['slice_id', 'start', 'end', 'filename', 'requested_at'].map((k) => ['content', k] as const),
    );
    fc.assert(
      fc.property(canonicalSlices, fields, fc.jsonValue(), ({ body, headers }, [path, key], value) => {
        // Prepare
        const raw = edited(body, set(path, key)(value));

        // Act
        const fast = canonicalSlice(raw, headers);
        const slow = attempt(raw, headers);

        // Assess
        if (fast !== undefined) expect(fast).toEqual(slow);
        if (slow instanceof ContractError) expect(fast).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });
});
