/** A decimal numeral as Python producers send numbers in strings ("4000.0", "-3"): no exponent, no spaces. */
export const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * The one number coercion for loose content, records and environment values: a finite number stays itself,
 * a string that is a DECIMAL numeral becomes its number, anything else (NaN, Infinity, "", " 4", "1e3",
 * "0x10", null, booleans) is undefined. It is the rule the contract's schemas apply to numeric fields.
 */
export function numberOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  return typeof v === 'string' && DECIMAL.test(v) ? Number(v) : undefined;
}

/** numberOf, when it is a safe integer. */
export function integerOf(v: unknown): number | undefined {
  const n = numberOf(v);
  return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
}
