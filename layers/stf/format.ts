/**
 * Synthetic Super Time Frame (STF) files, as the DAQ simulator writes them.
 *
 * All integers are little-endian.
 *
 * Header (`headerLength` bytes, a multiple of 8):
 *   0   8 bytes  magic `SWFSTF01` (ASCII)
 *   8   uint32   headerLength: bytes before the first time frame
 *   12  uint32   sequence: the STF's number within its run
 *   16  uint32   tfCount: number of time frames (TFs)
 *   20  uint32   bytesPerTf: size of every TF, a multiple of HIT_BYTES
 *   24  uint16   runIdLength: bytes of the run id
 *   26  uint16   reserved, 0
 *   28  bytes    run id, UTF-8, then zeros up to headerLength
 * The fixed fields come before the run id so a reader learns the header length from the first 28 bytes.
 *
 * Body: `tfCount` TFs back to back; TF `i` starts at `headerLength + i * bytesPerTf`. A TF is
 * `bytesPerTf / HIT_BYTES` hit records of 12 bytes:
 *   0   uint16   channel, 0 .. CHANNEL_COUNT - 1, uniform
 *   2   uint16   reserved, 0 (keeps the next fields 4-byte aligned)
 *   4   uint32   time in ns since the TF start, 0 .. TF_LENGTH_NS - 1, non-decreasing within a TF
 *   8   float32  deposited energy in MeV, exponential with mean MEAN_ENERGY_MEV
 *
 * The bytes depend only on (runId, sequence): a mulberry32 generator seeded with the FNV-1a hash of both.
 */

export const MAGIC = 'SWFSTF01';
export const HEADER_PREFIX_BYTES = 28;
export const HIT_BYTES = 12;
export const CHANNEL_COUNT = 4096;
/** 2^16 bunch crossings of ~10 ns, the order of an ePIC time frame. */
export const TF_LENGTH_NS = 655_360;
export const MEAN_ENERGY_MEV = 5;

export interface StfHeader {
  readonly runId: string;
  readonly sequence: number;
  readonly tfCount: number;
  readonly bytesPerTf: number;
  readonly hitsPerTf: number;
  readonly headerLength: number;
}

export interface StfSpec {
  readonly runId: string;
  readonly sequence: number;
  readonly tfCount: number;
  /** Approximate total file size in bytes. */
  readonly sizeBytes: number;
}

/** `swf.<runId>.<sequence, 6 digits>.stf` */
export function stfFileName(runId: string, sequence: number): string {
  if (!Number.isInteger(sequence) || sequence < 0) throw new RangeError(`Invalid STF sequence: ${sequence}`);
  return `swf.${runId}.${String(sequence).padStart(6, '0')}.stf`;
}

/**
 * A whole STF file. Every TF holds `max(1, round((sizeBytes - headerLength) / tfCount / HIT_BYTES))` hits,
 * so the file is within `tfCount * HIT_BYTES / 2` bytes of `sizeBytes`, unless that is too small for one
 * hit per TF.
 */
export function generateStf({ runId, sequence, tfCount, sizeBytes }: StfSpec): Buffer {
  if (!Number.isInteger(tfCount) || tfCount < 1 || tfCount > 0xffffffff) {
    throw new RangeError(`Invalid TF count: ${tfCount}`);
  }
  stfFileName(runId, sequence);
  const runIdBytes = Buffer.from(runId, 'utf8');
  if (runIdBytes.length > 0xffff) throw new RangeError('Run id longer than 65535 bytes');
  const headerLength = Math.ceil((HEADER_PREFIX_BYTES + runIdBytes.length) / 8) * 8;
  const hitsPerTf = Math.max(1, Math.round((sizeBytes - headerLength) / tfCount / HIT_BYTES));
  const bytesPerTf = hitsPerTf * HIT_BYTES;
  if (bytesPerTf > 0xffffffff) throw new RangeError(`TF too large: ${bytesPerTf} bytes`);

  const buf = Buffer.alloc(headerLength + tfCount * bytesPerTf);
  buf.write(MAGIC, 0, 'latin1');
  buf.writeUInt32LE(headerLength, 8);
  buf.writeUInt32LE(sequence, 12);
  buf.writeUInt32LE(tfCount, 16);
  buf.writeUInt32LE(bytesPerTf, 20);
  buf.writeUInt16LE(runIdBytes.length, 24);
  runIdBytes.copy(buf, HEADER_PREFIX_BYTES);

  const random = mulberry32(fnv1a(`${runId}\0${sequence}`));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const nsPerHit = TF_LENGTH_NS / hitsPerTf;
  let offset = headerLength;
  for (let tf = 0; tf < tfCount; tf++) {
    for (let hit = 0; hit < hitsPerTf; hit++) {
      view.setUint16(offset, Math.floor(random() * CHANNEL_COUNT), true);
      // One time per equal share of the TF keeps times sorted without a sort; min() guards float rounding.
      const time = Math.min(TF_LENGTH_NS - 1, Math.floor((hit + random()) * nsPerHit));
      view.setUint32(offset + 4, time, true);
      view.setFloat32(offset + 8, -MEAN_ENERGY_MEV * Math.log(1 - random()), true);
      offset += HIT_BYTES;
    }
  }
  return buf;
}

/** The header length, read from the first HEADER_PREFIX_BYTES of a file. */
export function headerLengthOf(prefix: Buffer): number {
  if (prefix.length < HEADER_PREFIX_BYTES || prefix.toString('latin1', 0, 8) !== MAGIC) {
    throw new Error(`Not an STF file (expected magic ${MAGIC})`);
  }
  return prefix.readUInt32LE(8);
}

/** Parses the header; `buf` needs to hold only the header, not the time frames. */
export function readHeader(buf: Buffer): StfHeader {
  const headerLength = headerLengthOf(buf);
  if (buf.length < headerLength)
    throw new Error(`STF header truncated: ${buf.length} of ${headerLength} bytes`);
  const runIdLength = buf.readUInt16LE(24);
  const bytesPerTf = buf.readUInt32LE(20);
  if (HEADER_PREFIX_BYTES + runIdLength > headerLength || bytesPerTf === 0 || bytesPerTf % HIT_BYTES !== 0) {
    throw new Error('Corrupt STF header');
  }
  return {
    runId: buf.toString('utf8', HEADER_PREFIX_BYTES, HEADER_PREFIX_BYTES + runIdLength),
    sequence: buf.readUInt32LE(12),
    tfCount: buf.readUInt32LE(16),
    bytesPerTf,
    hitsPerTf: bytesPerTf / HIT_BYTES,
    headerLength,
  };
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash >>> 0;
}

/** Uniform numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
