import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { adler32, formatAdler } from './checksum.ts';
import {
  CHANNEL_COUNT,
  HEADER_PREFIX_BYTES,
  HIT_BYTES,
  headerLengthOf,
  readHeader,
  type StfHeader,
} from './format.ts';

/** TFs [start, end): end-exclusive, as planSlices gives them. */
export interface TfRange {
  readonly start: number;
  readonly end: number;
}

/** The header of an STF and the bytes of some of its TFs. */
export interface StfPart {
  readonly header: StfHeader;
  readonly range: TfRange;
  /** TFs range.start .. range.end - 1, back to back. */
  readonly tfs: Buffer;
}

/**
 * Energy histogram: 16 bins of `binWidthMeV` from 0, bin k = [2k, 2k + 2) MeV; the last bin also
 * takes everything above, so it is [30, inf) MeV.
 */
export const energyHistogram = { bins: 16, binWidthMeV: 2 } as const;

export interface SliceResult {
  readonly start: number;
  readonly end: number;
  readonly hits: number;
  readonly energySumMeV: number;
  readonly meanEnergyMeV: number;
  /** Hits per energy bin, see energyHistogram. */
  readonly histogram: number[];
  /** The channel with the most hits (the lowest one on a tie) and its hit count. */
  readonly hottestChannel: number;
  readonly hottestChannelHits: number;
}

/** Analyses TFs [range.start, range.end) of a whole STF held in memory. */
export function analyseSlice(stf: Buffer, range: TfRange): SliceResult {
  const header = readHeader(stf);
  checkRange(header, range);
  const from = header.headerLength + range.start * header.bytesPerTf;
  const to = header.headerLength + range.end * header.bytesPerTf;
  if (stf.length < to) throw new Error(`STF truncated: ${stf.length} bytes, TFs need ${to}`);
  return analysePart({ header, range, tfs: stf.subarray(from, to) });
}

export function analysePart({ header, range, tfs }: StfPart): SliceResult {
  const hits = (range.end - range.start) * header.hitsPerTf;
  if (tfs.length !== hits * HIT_BYTES) throw new Error(`Expected ${hits * HIT_BYTES} bytes of TFs`);
  const view = new DataView(tfs.buffer, tfs.byteOffset, tfs.byteLength);
  const histogram = new Uint32Array(energyHistogram.bins);
  const perChannel = new Uint32Array(CHANNEL_COUNT);
  const lastBin = energyHistogram.bins - 1;
  let energySum = 0;
  for (let offset = 0; offset < tfs.length; offset += HIT_BYTES) {
    const channel = view.getUint16(offset, true);
    if (channel >= CHANNEL_COUNT) throw new Error(`Channel ${channel} out of range in TF data`);
    perChannel[channel] = (perChannel[channel] as number) + 1;
    const energy = view.getFloat32(offset + 8, true);
    energySum += energy;
    // `|| 0` puts a NaN energy in bin 0, so the histogram always adds up to the hits.
    const bin = Math.min(lastBin, Math.max(0, Math.floor(energy / energyHistogram.binWidthMeV) || 0));
    histogram[bin] = (histogram[bin] as number) + 1;
  }
  let hottestChannel = 0;
  for (let channel = 1; channel < CHANNEL_COUNT; channel++) {
    if ((perChannel[channel] as number) > (perChannel[hottestChannel] as number)) hottestChannel = channel;
  }
  return {
    start: range.start,
    end: range.end,
    hits,
    energySumMeV: energySum,
    meanEnergyMeV: hits > 0 ? energySum / hits : 0,
    histogram: Array.from(histogram),
    hottestChannel,
    hottestChannelHits: perChannel[hottestChannel] as number,
  };
}

/** Reads the header and TFs [range.start, range.end) of an STF file, and nothing else. */
export async function readStfRange(path: string, range: TfRange): Promise<StfPart> {
  const file = await open(path, 'r');
  try {
    const prefix = await readAt(file, path, 0, HEADER_PREFIX_BYTES);
    const header = readHeader(await readAt(file, path, 0, headerLengthOf(prefix)));
    checkRange(header, range);
    const offset = header.headerLength + range.start * header.bytesPerTf;
    const tfs = await readAt(file, path, offset, (range.end - range.start) * header.bytesPerTf);
    return { header, range, tfs };
  } finally {
    await file.close();
  }
}

export class StfChecksumError extends Error {
  constructor(
    readonly path: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`Checksum mismatch for ${path}: expected ${expected}, got ${actual}`);
    this.name = 'StfChecksumError';
  }
}

/** Streams the file through adler32; throws StfChecksumError unless it matches `expectedChecksum`. */
export async function verifyStf(path: string, expectedChecksum: string): Promise<void> {
  let value = 1;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    value = adler32(chunk as Buffer, value);
  }
  const actual = formatAdler(value);
  if (actual !== expectedChecksum.toLowerCase()) throw new StfChecksumError(path, expectedChecksum, actual);
}

/** Throws unless [start, end) is a non-empty range of the STF's TFs. */
export function checkRange(header: StfHeader, { start, end }: TfRange): void {
  if (
    !Number.isInteger(start) ||
    !Number.isInteger(end) ||
    start < 0 ||
    end <= start ||
    end > header.tfCount
  ) {
    throw new RangeError(`Invalid TF range [${start}, ${end}) for an STF of ${header.tfCount} TFs`);
  }
}

async function readAt(file: FileHandle, path: string, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`${path} truncated: no bytes at offset ${position + done}`);
    done += bytesRead;
  }
  return buf;
}
