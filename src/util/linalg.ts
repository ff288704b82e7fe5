/**
 * Dense linear algebra in float64 for the detectors' statistics (covariances, principal spaces,
 * pseudo-inverses of a few hundred dimensions): matrices are flat row-major Float64Arrays.
 */

/**
 * Eigen-decomposition of a symmetric n x n matrix by the cyclic Jacobi method: rotations
 * J(p, q, θ) zero one off-diagonal pair at a time, A ← JᵀAJ, V ← VJ, until the off-diagonal mass
 * is below 1e-30 of the total. Slower than Householder + QL (about 10 sweeps of 4n³ operations)
 * but accurate to rounding for any spread of eigenvalues, rank-deficient matrices included.
 * Returns eigenvalues in descending order (ties keep their index order) and the eigenvectors as
 * the columns of `vectors` (row-major n x n), in the same order.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  if (matrix.length !== n * n) throw new Error(`symmetricEigen: expected ${n * n} values, got ${matrix.length}`);
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = a[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i] || i - j);
  const values = Float64Array.from(order, (i) => a[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values, vectors };
}

/**
 * Pseudo-inverse of a symmetric positive semi-definite n x n matrix: Σ_i v_i v_iᵀ / λ_i over the
 * eigenpairs with λ_i >= relTol · λ_max (the rest, rounding noise of a rank-deficient matrix and
 * any negative rounding, are dropped). Also returns the rank kept.
 */
export function pinvSymmetric(matrix: ArrayLike<number>, n: number, relTol: number): { inverse: Float64Array; rank: number } {
  const { values, vectors } = symmetricEigen(matrix, n);
  const out = new Float64Array(n * n);
  const cut = relTol * Math.max(values[0] ?? 0, 0);
  let rank = 0;
  for (let e = 0; e < n; e++) {
    const lambda = values[e];
    if (!(lambda > 0) || lambda < cut) continue;
    rank++;
    for (let i = 0; i < n; i++) {
      const vi = vectors[i * n + e] / lambda;
      if (vi === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += vi * vectors[j * n + e];
    }
  }
  return { inverse: out, rank };
}

/** y = A x for A row-major [rows, cols]. */
export function matVec(a: ArrayLike<number>, rows: number, cols: number, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += a[i * cols + j] * x[j];
    y[i] = s;
  }
  return y;
}
