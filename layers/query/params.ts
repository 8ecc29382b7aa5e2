import * as z from 'zod';
import { defined } from '#contract/fields.ts';
import { parseTimestamp } from '#contract/timestamps.ts';
import { badRequest, DEFAULT_LIMIT, MAX_LIMIT } from './bounds.ts';

// What the faces pass in: HTTP query strings (all strings), CLI options, MCP tool arguments (typed JSON).
// Each query validates its own parameters here, so every face refuses the same input with the same words.

const digits = z
  .union([z.string(), z.number()])
  .transform(String)
  .pipe(z.string().regex(/^\d+$/, { error: (i) => `expected digits, got ${JSON.stringify(i.input)}` }));

export const runId = digits;
export const taskId = z.coerce.number({ error: 'expected a number' }).int('expected an integer').positive();
export const executionId = z
  .string()
  .regex(/^[\w.:@-]{1,200}$/, { error: (i) => `not an execution id: ${JSON.stringify(i.input)}` });

export const limit = z.coerce
  .number({ error: 'expected a number' })
  .int('expected an integer')
  .min(1, 'at least 1')
  .max(MAX_LIMIT, { error: (i) => `${String(i.input)} is over the maximum of ${MAX_LIMIT}` })
  .default(DEFAULT_LIMIT);

export const next = z.string().min(1).max(8192);

/** Any upstream timestamp style, as canonical `...ffffffZ`. */
export const time = z.string().transform((s, ctx) => {
  try {
    return parseTimestamp(s);
  } catch {
    ctx.issues.push({ code: 'custom', message: `not a timestamp: ${JSON.stringify(s)}`, input: s });
    return z.NEVER;
  }
});

export const text = z.string().min(1).max(200);

export const paging = { limit, next: next.optional() };

/** Parses a face's input with `schema`; a mismatch is a 400 naming each field and what is wrong with it. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const cleaned =
    input !== null && typeof input === 'object' ? defined(input as Record<string, unknown>) : {};
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  throw badRequest(
    result.error.issues
      .map((i) =>
        i.code === 'unrecognized_keys'
          ? `unknown parameter${i.keys.length > 1 ? 's' : ''}: ${i.keys.join(', ')}`
          : `${i.path.map(String).join('.') || 'parameters'}: ${i.message}`,
      )
      .join('; '),
  );
}
