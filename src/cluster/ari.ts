/**
 * Adjusted Rand index (Hubert & Arabie 1985) between two labelings of the same
 * points: the Rand index corrected for chance, 1 for identical partitions (up to
 * renaming the labels), about 0 for independent ones, possibly negative.
 *
 * With n_ij the contingency table, a_i / b_j its row / column sums and C(m) = m(m−1)/2:
 *
 *   index    = Σ_ij C(n_ij)
 *   expected = Σ_i C(a_i) · Σ_j C(b_j) / C(n)
 *   max      = (Σ_i C(a_i) + Σ_j C(b_j)) / 2
 *   ARI      = (index − expected) / (max − expected)
 *
 * When max = expected (both labelings put everything in one cluster, or both
 * make every point its own cluster, or n < 2) the partitions agree and the
 * result is 1, as in scikit-learn.
 */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`adjustedRandIndex: labelings have ${a.length} and ${b.length} points`);
  const n = a.length;
  const pairs = (m: number): number => (m * (m - 1)) / 2;
  const rows = new Map<number, number>();
  const cols = new Map<number, number>();
  const cells = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    rows.set(a[i], (rows.get(a[i]) ?? 0) + 1);
    cols.set(b[i], (cols.get(b[i]) ?? 0) + 1);
    const key = `${a[i]},${b[i]}`;
    cells.set(key, (cells.get(key) ?? 0) + 1);
  }
  let index = 0;
  for (const m of cells.values()) index += pairs(m);
  let sumA = 0;
  for (const m of rows.values()) sumA += pairs(m);
  let sumB = 0;
  for (const m of cols.values()) sumB += pairs(m);
  const total = pairs(n);
  const expected = total > 0 ? (sumA * sumB) / total : 0;
  const max = (sumA + sumB) / 2;
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}
