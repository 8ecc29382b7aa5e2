// The checksum rule, without zod: the schemas hold a message to it and the pilot checks the STFs it reads.

/** `ad:` + 8 hex digits, or the legacy `ad:` + decimal adler32 -> `ad:` + 8 lower-case hex digits. */
export function normaliseChecksum(s: string): string {
  // 8 digits fit both: read as hex, as producers now write hex and so short a decimal adler32 is rare (2%).
  if (/^ad:[0-9a-fA-F]{8}$/.test(s)) return s.toLowerCase();
  const decimal = /^ad:(\d{1,10})$/.exec(s)?.[1];
  if (decimal !== undefined && Number(decimal) <= 0xffffffff) {
    return `ad:${Number(decimal).toString(16).padStart(8, '0')}`;
  }
  throw new Error(
    `invalid checksum ${JSON.stringify(s)}: expected ad:<8 hex digits> or ad:<decimal adler32>`,
  );
}
