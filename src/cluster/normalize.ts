import { Rng } from '../util/rng';
import { gram } from './kmeans';
import { symmetricEigen } from '../util/linalg';

/**
 * Feature normalisations applied to a pool's features z ∈ R^{n×d} (row-major)
 * before clustering, the variants of the GReg+ authors:
 *
 * - `per-sample`  z_i / ‖z_i‖             (the default: clusters by direction)
 * - `per-feature` z_it / ‖z_·t‖           (each column over the pool has unit norm)
 * - `batch-norm`  z_i / mean_m ‖z_m‖      (one scale for the whole pool)
 * - `none`        z
 * - `pca`         scores of the centred z on its top `components` principal axes
 *
 * A zero norm leaves its row (column, pool) at zero instead of producing NaN.
 * Every function is pure: it returns a new array (or, for `none`, the input).
 */
export const NORMALIZATIONS = ['per-sample', 'per-feature', 'batch-norm', 'none', 'pca'] as const;
export type Normalization = (typeof NORMALIZATIONS)[number];

export interface Features {
  /** Row-major [n, d]. */
  data: Float32Array;
  d: number;
}

function rowsOf(x: Float32Array, d: number, who: string): number {
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`${who}: d must be a positive integer, got ${d}`);
  if (x.length % d !== 0) throw new RangeError(`${who}: ${x.length} values do not make rows of ${d}`);
  return x.length / d;
}

export function normalizeFeatures(x: Float32Array, d: number, method: Normalization, components?: number): Features {
  switch (method) {
    case 'per-sample':
      return { data: perSample(x, d), d };
    case 'per-feature':
      return { data: perFeature(x, d), d };
    case 'batch-norm':
      return { data: batchNorm(x, d), d };
    case 'none':
      return { data: x, d };
    case 'pca': {
      if (components === undefined) throw new RangeError('normalizeFeatures: pca needs a number of components');
      return pcaProject(x, d, components);
    }
  }
}

export function perSample(x: Float32Array, d: number): Float32Array {
  const n = rowsOf(x, d, 'perSample');
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let ss = 0;
    for (let t = 0; t < d; t++) ss += x[o + t] * x[o + t];
    const scale = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let t = 0; t < d; t++) out[o + t] = x[o + t] * scale;
  }
  return out;
}

export function perFeature(x: Float32Array, d: number): Float32Array {
  const n = rowsOf(x, d, 'perFeature');
  const ss = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) ss[t] += x[i * d + t] * x[i * d + t];
  const scale = ss.map((v) => (v > 0 ? 1 / Math.sqrt(v) : 0));
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) out[i * d + t] = x[i * d + t] * scale[t];
  return out;
}

export function batchNorm(x: Float32Array, d: number): Float32Array {
  const n = rowsOf(x, d, 'batchNorm');
  let sumNorms = 0;
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let t = 0; t < d; t++) ss += x[i * d + t] * x[i * d + t];
    sumNorms += Math.sqrt(ss);
  }
  const mean = n > 0 ? sumNorms / n : 0;
  const scale = mean > 0 ? 1 / mean : 0;
  return x.map((v) => v * scale);
}

/**
 * PCA scores: the centred rows projected on the top `components` principal
 * axes (leading eigenvectors of the covariance). At most min(n, d) components
 * exist; more are capped.
 *
 * Works on the smaller of the two Gram matrices of the centred A (n×d), so a
 * pool of 384 features of dimension 512 needs no 512×512 eigenproblem:
 * - n ≤ d: K = A Aᵀ = U Λ Uᵀ, and the scores are A V = U Λ^{1/2};
 * - n > d: C = Aᵀ A = V Λ Vᵀ, and the scores are A V.
 * The top eigenpairs come from `topEigen`. Deterministic: each component's sign
 * makes its largest-magnitude score positive.
 */
export function pcaProject(x: Float32Array, d: number, components: number): Features {
  const n = rowsOf(x, d, 'pcaProject');
  if (!Number.isInteger(components) || components < 1) throw new RangeError(`pcaProject: components must be a positive integer, got ${components}`);
  const m = Math.min(components, n, d);
  const a = new Float32Array(x.length);
  const at = new Float32Array(x.length); // Aᵀ, for the n > d case
  for (let t = 0; t < d; t++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[i * d + t];
    mean /= n;
    for (let i = 0; i < n; i++) at[t * n + i] = a[i * d + t] = x[i * d + t] - mean;
  }
  const rowsSmaller = n <= d;
  const s = rowsSmaller ? n : d;
  const { values, vectors } = topEigen(rowsSmaller ? gram(a, n, d) : gram(at, d, n), s, m);
  const out = new Float32Array(n * m);
  const col = new Float64Array(n);
  for (let c = 0; c < m; c++) {
    const sigma = Math.sqrt(Math.max(values[c], 0));
    for (let i = 0; i < n; i++) {
      if (rowsSmaller) col[i] = vectors[i * m + c] * sigma;
      else {
        let v = 0;
        for (let t = 0; t < d; t++) v += a[i * d + t] * vectors[t * m + c];
        col[i] = v;
      }
    }
    let peak = 0;
    for (let i = 1; i < n; i++) if (Math.abs(col[i]) > Math.abs(col[peak])) peak = i;
    const sign = col[peak] < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) out[i * m + c] = sign * col[i];
  }
  return { data: out, d: m };
}

/**
 * The m largest eigenvalues (descending) and their eigenvectors (columns of the
 * s×m row-major `vectors`) of a symmetric positive semi-definite s×s matrix S,
 * by randomized subspace iteration (Halko, Martinsson & Tropp 2011; what
 * scikit-learn's PCA uses at these sizes), since a full eigendecomposition of a
 * 384×384 matrix costs far more than a training step: Q = orth(S Ω) with Ω a
 * fixed-seed Gaussian s×b sketch (b = m + 10 columns of slack), then
 * Q ← orth(S Q) six times, then the exact eigendecomposition (Jacobi) of the
 * b×b Qᵀ S Q = W Λ Wᵀ gives the eigenvectors Q W. Exact when rank(S) ≤ b.
 */
export function topEigen(sm: Float64Array, s: number, m: number): { values: Float64Array; vectors: Float64Array } {
  const b = Math.min(m + 10, s);
  const sketchRng = new Rng(0x9ca5eed);
  let q = orthonormalize(multiply(sm, s, s, Float64Array.from({ length: s * b }, () => sketchRng.normal()), b), s, b);
  for (let it = 0; it < 6; it++) q = orthonormalize(multiply(sm, s, s, q, b), s, b);
  const small = multiplyTransposed(q, s, b, multiply(sm, s, s, q, b), b);
  // eigenvalues in descending order: the top m come first
  const { values: lambda, vectors: w } = symmetricEigen(small, b);
  const values = lambda.slice(0, m);
  const vectors = new Float64Array(s * m);
  for (let i = 0; i < s; i++) {
    for (let c = 0; c < m; c++) {
      let v = 0;
      for (let r = 0; r < b; r++) v += q[i * b + r] * w[r * b + c];
      vectors[i * m + c] = v;
    }
  }
  return { values, vectors };
}

/** A (r×c) · B (c×w), row-major. */
function multiply(a: Float64Array, r: number, c: number, bm: Float64Array, w: number): Float64Array {
  const out = new Float64Array(r * w);
  for (let i = 0; i < r; i++) {
    for (let t = 0; t < c; t++) {
      const v = a[i * c + t];
      if (v === 0) continue;
      const src = t * w;
      const dst = i * w;
      for (let j = 0; j < w; j++) out[dst + j] += v * bm[src + j];
    }
  }
  return out;
}

/** Aᵀ (c×r) · B (r×w), for A r×c and B r×w row-major. */
function multiplyTransposed(a: Float64Array, r: number, c: number, bm: Float64Array, w: number): Float64Array {
  const out = new Float64Array(c * w);
  for (let i = 0; i < r; i++) {
    for (let t = 0; t < c; t++) {
      const v = a[i * c + t];
      if (v === 0) continue;
      const src = i * w;
      const dst = t * w;
      for (let j = 0; j < w; j++) out[dst + j] += v * bm[src + j];
    }
  }
  return out;
}

/**
 * Orthonormal columns spanning those of Y (r×w), by modified Gram-Schmidt done
 * twice (one pass loses orthogonality on nearly dependent columns). A column
 * that is (numerically) in the span of the previous ones becomes zero, which
 * only contributes zero singular values.
 */
function orthonormalize(y: Float64Array, r: number, w: number): Float64Array {
  for (let j = 0; j < w; j++) {
    let original = 0;
    for (let i = 0; i < r; i++) original += y[i * w + j] * y[i * w + j];
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        let dot = 0;
        for (let i = 0; i < r; i++) dot += y[i * w + p] * y[i * w + j];
        for (let i = 0; i < r; i++) y[i * w + j] -= dot * y[i * w + p];
      }
    }
    let ss = 0;
    for (let i = 0; i < r; i++) ss += y[i * w + j] * y[i * w + j];
    const scale = ss > 1e-24 * original && ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let i = 0; i < r; i++) y[i * w + j] *= scale;
  }
  return y;
}
