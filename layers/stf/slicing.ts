export interface SlicePlan {
  /** 0-based position of the slice within its STF. */
  readonly sliceId: number;
  /** First TF of the slice. */
  readonly start: number;
  /** One past the last TF of the slice (end-exclusive). */
  readonly end: number;
}

/**
 * Cuts TFs [0, tfCount) into `min(slicesPerStf, tfCount)` contiguous, end-exclusive ranges whose sizes
 * differ by at most one; the larger ones come first.
 */
export function planSlices(tfCount: number, slicesPerStf: number): SlicePlan[] {
  if (!Number.isInteger(tfCount) || tfCount < 1) throw new RangeError(`Invalid TF count: ${tfCount}`);
  if (!Number.isInteger(slicesPerStf) || slicesPerStf < 1) {
    throw new RangeError(`Invalid slices per STF: ${slicesPerStf}`);
  }
  const count = Math.min(slicesPerStf, tfCount);
  const base = Math.floor(tfCount / count);
  const larger = tfCount % count;
  const slices: SlicePlan[] = [];
  let start = 0;
  for (let sliceId = 0; sliceId < count; sliceId++) {
    const end = start + base + (sliceId < larger ? 1 : 0);
    slices.push({ sliceId, start, end });
    start = end;
  }
  return slices;
}
