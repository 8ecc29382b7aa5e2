#!/usr/bin/env node
// An example payload: reads the slice's TF range of a synthetic STF, counts its hits and sums their energy,
// writes that to a file in the run's output folder and prints it as JSON (the slice's result).
// Called as the transformer calls a command: count-hits.mjs <stf> <start> <end>, TFs inclusive; the same
// values are in SLICE_STF, SLICE_START, SLICE_END, with SLICE_FILENAME, SLICE_ID and SLICE_OUTPUT_DIR.
// Plain Node and no dependencies, so it runs in the pilot image as it is.
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const [stf = process.env.SLICE_STF, startArg = process.env.SLICE_START, endArg = process.env.SLICE_END] =
  process.argv.slice(2);
const start = Number(startArg);
const end = Number(endArg);
if (!stf || !Number.isInteger(start) || !Number.isInteger(end) || end < start) {
  console.error(`usage: count-hits.mjs <stf> <start> <end> (got ${process.argv.slice(2).join(' ')})`);
  process.exit(2);
}

// The STF layout (layers/stf/format.ts): magic, header length, sequence, TF count, bytes per TF; 12-byte hits.
const HIT_BYTES = 12;
const fd = openSync(stf, 'r');
const readAt = (position, length) => {
  const buf = Buffer.alloc(length);
  const got = readSync(fd, buf, 0, length, position);
  if (got !== length) throw new Error(`${stf}: ${got} of ${length} bytes at ${position}`);
  return buf;
};
const prefix = readAt(0, 28);
if (prefix.toString('latin1', 0, 8) !== 'SWFSTF01') {
  console.error(`${stf} is not a synthetic STF`);
  process.exit(3);
}
const headerLength = prefix.readUInt32LE(8);
const tfCount = prefix.readUInt32LE(16);
const bytesPerTf = prefix.readUInt32LE(20);
if (end >= tfCount) {
  console.error(`TFs ${start}-${end} out of range: the STF has ${tfCount}`);
  process.exit(4);
}
const tfs = readAt(headerLength + start * bytesPerTf, (end - start + 1) * bytesPerTf);
closeSync(fd);

let energy = 0;
for (let offset = 0; offset < tfs.length; offset += HIT_BYTES) energy += tfs.readFloatLE(offset + 8);
const hits = tfs.length / HIT_BYTES;
const summary = {
  payload: 'count-hits',
  tfs: end - start + 1,
  bytes: tfs.length,
  hits,
  energy_sum_mev: Math.round(energy * 1000) / 1000,
  mean_energy_mev: Math.round((energy / hits) * 1000) / 1000,
};
// The working directory is the run's output folder, which the pilots of a run share: name files by slice.
const name = `${basename(stf).replace(/\.stf$/, '')}.slice${process.env.SLICE_ID ?? `${start}-${end}`}.json`;
const outputFile = join(process.env.SLICE_OUTPUT_DIR ?? process.cwd(), name);
writeFileSync(outputFile, `${JSON.stringify(summary)}\n`);
console.log(JSON.stringify({ ...summary, output_file: outputFile }));
