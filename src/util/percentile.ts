/** The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default). */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty set');
  return percentileOfSorted(Float64Array.from(values).sort(), q);
}

/** {@link percentile} of values already sorted ascending (e.g. a sorted Float32Array, to halve the memory of a large set). */
export function percentileOfSorted(s: ArrayLike<number>, q: number): number {
  if (s.length === 0) throw new RangeError('percentile of an empty set');
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
