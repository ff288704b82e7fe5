/** Summary statistics shared by sweep summaries and reports. */

/** Mean and sample standard deviation (n - 1); undefined where there are too few values. */
export function meanStd(xs: number[]): { mean?: number; std?: number } {
  if (xs.length === 0) return {};
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  if (xs.length < 2) return { mean };
  const v = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, std: Math.sqrt(v) };
}
