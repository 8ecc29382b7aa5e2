/** Largest prime below 2^16 (RFC 1950). */
const MOD = 65521;
/**
 * Bytes summed before reducing modulo MOD. zlib uses 5552 (the most that keeps `b` inside 32 bits); 3800
 * keeps `b` below 2^31 so V8 can stay on small integers in the hot loop.
 */
const CHUNK = 3800;

/**
 * Adler-32 of `buf` as an unsigned 32-bit integer. Pass the previous result as `seed` to continue a
 * checksum over the next piece of a stream (the default 1 starts a new one, as in zlib).
 */
export function adler32(buf: Uint8Array, seed = 1): number {
  let a = seed & 0xffff;
  let b = seed >>> 16;
  const n = buf.length;
  let i = 0;
  while (i < n) {
    const stop = Math.min(i + CHUNK, n);
    for (; i < stop; i++) {
      a += buf[i] as number;
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  return ((b << 16) | a) >>> 0;
}

/** The checksum as carried in file metadata: `ad:` and eight lowercase hex digits. */
export function formatAdler(value: number): string {
  return `ad:${(value >>> 0).toString(16).padStart(8, '0')}`;
}

export function adlerChecksum(buf: Uint8Array): string {
  return formatAdler(adler32(buf));
}
