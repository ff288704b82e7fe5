import { kmeans } from '../cluster/kmeans';
import { Normalization, NORMALIZATIONS, normalizeFeatures } from '../cluster/normalize';
import { ConfigReader } from '../config/reader';
import { UserError } from '../util/errors';
import { Rng } from '../util/rng';

/**
 * Energy-based outlier sampling (GReg+). Each step draws a candidate pool of
 * auxiliary outliers, and the outlier batch is picked from it:
 *
 * 1. sort the pool by energy E ascending (ties by pool index) and keep the
 *    slice [spt, ept) of that order;
 * 2. normalise the kept features (per-sample z/‖z‖ by default);
 * 3. k-means them into k clusters (k-means++, `nInit` restarts);
 * 4. from each cluster take its lowest-energy sample (the most ID-like, hardest
 *    outlier, for L_S) and, with two-way sampling, also its highest-energy one
 *    (already well detected, for L_∇S) — a different sample whenever the
 *    cluster has two or more;
 * 5. fill up to the batch size at random, without replacement, from the kept
 *    slice's samples not yet picked;
 * 6. shuffle the batch (seeded): picked in that order, its first half would be
 *    the low picks and its second the high ones, and with `micro_batches` each
 *    slice would see one energy band only.
 *
 * The number of clusters is k = min(clusters, ⌊B / w⌋), with B the outlier
 * batch size and w = 2 picks per cluster with two-way sampling (else 1). So the
 * cluster picks never exceed the batch: a two-way batch keeps a low and a high
 * pick from every cluster rather than clustering finer and dropping picks, which
 * would either unbalance the two halves or throw away the diversity that
 * clustering buys. (Where B ≥ 2·clusters, as with the default B = 2 × ID batch
 * and clusters ≤ ID batch, this is METHOD.md's k = min(clusters, B).) The one
 * case that still overflows, B = 1 with two-way sampling, keeps the low pick.
 */

/** The selection's settings, shared by the config section and each step's call. */
export interface SelectionSettings {
  /** Requested number of clusters (capped as described above). */
  clusters: number;
  /** First kept position in ascending-energy order. */
  spt: number;
  /** End (exclusive) of the kept positions; the pool size if absent. */
  ept?: number;
  twoWay: boolean;
  normalize: Normalization;
  /** Components kept by `normalize: pca` (set only with it). */
  pcaComponents?: number;
  /** k-means restarts. */
  nInit: number;
}

export interface SelectOutliersInput extends SelectionSettings {
  /** Energy of each pool candidate. */
  energies: Float32Array;
  /** Row-major features [pool, d] of the candidates. */
  features: Float32Array;
  d: number;
  /** Outlier batch size B. */
  batchSize: number;
  rng: Rng;
}

export interface Selection {
  /** Pool indices of the batch (`low`, `high` and `fill`) in a seeded random order; no repeats. */
  indices: number[];
  /** Each cluster's lowest-energy sample, in ascending energy. */
  low: number[];
  /** Each cluster's highest-energy sample (two-way only), in ascending energy. */
  high: number[];
  /** The random fill. */
  fill: number[];
  /** Clusters formed. */
  clusters: number;
  /** Mean energy of the batch. */
  meanEnergy: number;
  /** Mean energy of the kept slice [spt, ept). */
  keptMeanEnergy: number;
}

function mean(values: Float32Array, indices: number[]): number {
  let s = 0;
  for (const i of indices) s += values[i];
  return indices.length ? s / indices.length : NaN;
}

export function selectOutliers(input: SelectOutliersInput): Selection {
  const { energies, features, d, batchSize, clusters, spt, twoWay, rng } = input;
  const pool = energies.length;
  const ept = input.ept ?? pool;
  const fail = (m: string): never => {
    throw new RangeError(`selectOutliers: ${m}`);
  };
  if (!Number.isInteger(d) || d < 1) fail(`d must be a positive integer, got ${d}`);
  if (features.length !== pool * d) fail(`expected ${pool} × ${d} feature values for ${pool} energies, got ${features.length}`);
  for (let i = 0; i < pool; i++) if (!Number.isFinite(energies[i])) fail(`energy of candidate ${i} is ${energies[i]}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) fail(`batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(clusters) || clusters < 1) fail(`clusters must be a positive integer, got ${clusters}`);
  if (!Number.isInteger(spt) || !Number.isInteger(ept) || spt < 0 || ept > pool || spt >= ept) {
    fail(`need integers 0 <= spt < ept <= pool size ${pool}, got spt ${spt}, ept ${ept}`);
  }
  if (ept - spt < batchSize) fail(`the kept slice [${spt}, ${ept}) has ${ept - spt} candidates, fewer than the batch size ${batchSize}`);

  // 1. The kept slice, as pool indices in ascending energy (stable on ties).
  const order = Array.from({ length: pool }, (_, i) => i).sort((a, b) => energies[a] - energies[b] || a - b);
  const kept = order.slice(spt, ept);
  const m = kept.length;

  // 2. Normalised features of the kept candidates.
  const gathered = new Float32Array(m * d);
  kept.forEach((p, i) => gathered.set(features.subarray(p * d, (p + 1) * d), i * d));
  const z = normalizeFeatures(gathered, d, input.normalize, input.pcaComponents);

  // 3. Clusters.
  const perCluster = twoWay ? 2 : 1;
  const k = Math.min(clusters, Math.max(1, Math.floor(batchSize / perCluster)));
  const { labels, k: formed } = kmeans(z.data, z.d, { k, rng, nInit: input.nInit });

  // 4. Kept positions are in ascending energy, so a cluster's first position is
  // its lowest-energy sample and its last position its highest.
  const first = new Int32Array(formed).fill(-1);
  const last = new Int32Array(formed).fill(-1);
  for (let i = 0; i < m; i++) {
    if (first[labels[i]] < 0) first[labels[i]] = i;
    last[labels[i]] = i;
  }
  const lowPos = Array.from(first).sort((a, b) => a - b);
  const highPos = twoWay ? Array.from(last).filter((p, j) => p !== first[j]).sort((a, b) => a - b) : [];
  const pickedPos = [...lowPos, ...highPos].slice(0, batchSize);
  const low = pickedPos.slice(0, Math.min(lowPos.length, batchSize)).map((p) => kept[p]);
  const high = pickedPos.slice(low.length).map((p) => kept[p]);

  // 5. Random fill from the rest of the kept slice (partial Fisher-Yates).
  const taken = new Uint8Array(m);
  for (const p of pickedPos) taken[p] = 1;
  const rest: number[] = [];
  for (let i = 0; i < m; i++) if (!taken[i]) rest.push(i);
  const fill: number[] = [];
  for (let f = 0; f < batchSize - pickedPos.length; f++) {
    const j = f + rng.int(rest.length - f);
    [rest[f], rest[j]] = [rest[j], rest[f]];
    fill.push(kept[rest[f]]);
  }

  const indices = rng.shuffle([...low, ...high, ...fill]);
  return { indices, low, high, fill, clusters: formed, meanEnergy: mean(energies, indices), keptMeanEnergy: mean(energies, kept) };
}

/**
 * Candidates per step: pool = round(candidates_total / |ID train| · B_id), the
 * share of the auxiliary set that one epoch of ID batches would walk through
 * (300,000 / 50,000 · 64 = 384). Halves round up.
 */
export function poolSize(candidatesTotal: number, idTrainSize: number, batchSize: number): number {
  for (const [name, v] of [['candidatesTotal', candidatesTotal], ['idTrainSize', idTrainSize], ['batchSize', batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`poolSize: ${name} must be a positive integer, got ${v}`);
  }
  // Multiply first: exact in integers, where the quotient first could round badly.
  return Math.round((candidatesTotal * batchSize) / idTrainSize);
}

/** The authors' outlier batch size: the ID batch size, doubled with two-way sampling (k lowest + k highest). */
export function defaultAuxBatchSize(idBatchSize: number, twoWay: boolean): number {
  return twoWay ? 2 * idBatchSize : idBatchSize;
}

export const SAMPLING_METHODS = ['random', 'energy'] as const;

/** The `sampling` config section, resolved with its defaults. */
export type SamplingSpec = RandomSamplingSpec | EnergySamplingSpec;

export interface RandomSamplingSpec {
  method: 'random';
  /** Outlier batch size; the ID batch size if absent. */
  auxBatchSize?: number;
}

export interface EnergySamplingSpec extends SelectionSettings {
  method: 'energy';
  /** Candidates per epoch, giving the pool via `poolSize`; with neither this nor `poolSize`, the auxiliary set's size. */
  candidatesTotal?: number;
  /** Candidates per step, directly. */
  poolSize?: number;
  /** Outlier batch size; `defaultAuxBatchSize` if absent. */
  auxBatchSize?: number;
}

export const SAMPLING_DEFAULTS = { clusters: 64, twoWay: true, normalize: 'per-sample', nInit: 3, spt: 0, pcaComponents: 32 } as const;

const ENERGY_ONLY_KEYS = ['clusters', 'candidates_total', 'pool_size', 'spt', 'ept', 'two_way', 'normalize', 'pca_components', 'n_init'];

/** Reads the `sampling` section (`r` is that section's reader); `defaultMethod` comes from the training method's preset. */
export function parseSampling(r: ConfigReader, defaultMethod: SamplingSpec['method'] = 'random'): SamplingSpec {
  const method = r.oneOf('method', SAMPLING_METHODS, defaultMethod);
  const auxBatchSize = r.optionalNumber('aux_batch_size', { integer: true, min: 1 });
  if (method === 'random') {
    // A GReg+ key under plain random sampling means the user expected GReg+.
    for (const key of ENERGY_ONLY_KEYS) if (r.has(key)) r.fail(key, 'applies only with method: energy (method is random)');
    for (const key of ENERGY_ONLY_KEYS) r.optionalString(key); // known keys, so done() names them in its hints
    r.done();
    return { method, ...(auxBatchSize !== undefined && { auxBatchSize }) };
  }
  const clusters = r.number('clusters', SAMPLING_DEFAULTS.clusters, { integer: true, min: 1 });
  if (r.has('candidates_total') && r.has('pool_size')) {
    r.fail('pool_size', 'give either candidates_total or pool_size, not both');
  }
  const candidatesTotal = r.optionalNumber('candidates_total', { integer: true, min: 1 });
  const pool = r.optionalNumber('pool_size', { integer: true, min: 1 });
  const spt = r.number('spt', SAMPLING_DEFAULTS.spt, { integer: true, min: 0 });
  const ept = r.optionalNumber('ept', { integer: true, above: spt });
  if (ept !== undefined && pool !== undefined && ept > pool) r.fail('ept', `must be <= pool_size (${pool}), got ${ept}`);
  const twoWay = r.boolean('two_way', SAMPLING_DEFAULTS.twoWay);
  const normalize = r.oneOf('normalize', NORMALIZATIONS, SAMPLING_DEFAULTS.normalize);
  let pcaComponents: number | undefined;
  if (normalize === 'pca') pcaComponents = r.number('pca_components', SAMPLING_DEFAULTS.pcaComponents, { integer: true, min: 1 });
  else if (r.has('pca_components')) r.fail('pca_components', `applies only with normalize: pca (normalize is ${normalize})`);
  else r.optionalNumber('pca_components');
  const nInit = r.number('n_init', SAMPLING_DEFAULTS.nInit, { integer: true, min: 1 });
  r.done();
  const spec: EnergySamplingSpec = { method, clusters, spt, twoWay, normalize, nInit };
  if (candidatesTotal !== undefined) spec.candidatesTotal = candidatesTotal;
  if (pool !== undefined) spec.poolSize = pool;
  if (ept !== undefined) spec.ept = ept;
  if (pcaComponents !== undefined) spec.pcaComponents = pcaComponents;
  if (auxBatchSize !== undefined) spec.auxBatchSize = auxBatchSize;
  return spec;
}

/** The sizes a run needs, once the data are known. */
export interface ResolvedSampling {
  auxBatchSize: number;
  /** Energy sampling only: candidates per step and the kept slice's end. */
  poolSize?: number;
  ept?: number;
}

/**
 * Fixes the sizes that depend on the data: the outlier batch size, the pool
 * size (from `pool_size`, or `candidates_total` — by default the whole
 * auxiliary set — per `poolSize`) and `ept`, checking that the kept slice can
 * fill a batch and that the auxiliary set can fill a pool.
 */
export function resolveSampling(spec: SamplingSpec, data: { idTrainSize: number; idBatchSize: number; auxSize: number }): ResolvedSampling {
  if (spec.method === 'random') return { auxBatchSize: spec.auxBatchSize ?? data.idBatchSize };
  const auxBatchSize = spec.auxBatchSize ?? defaultAuxBatchSize(data.idBatchSize, spec.twoWay);
  const pool = spec.poolSize ?? poolSize(spec.candidatesTotal ?? data.auxSize, data.idTrainSize, data.idBatchSize);
  const where = spec.poolSize !== undefined ? 'sampling.pool_size' : 'sampling.candidates_total';
  const how = spec.poolSize !== undefined ? `pool_size ${pool}` : `pool size ${pool} (= round(${spec.candidatesTotal ?? data.auxSize} candidates / ${data.idTrainSize} ID samples × batch ${data.idBatchSize}))`;
  if (pool > data.auxSize) throw new UserError(`${where}: ${how} exceeds the auxiliary set's ${data.auxSize} samples`);
  const ept = spec.ept ?? pool;
  if (ept > pool) throw new UserError(`sampling.ept: ${ept} exceeds the ${how}`);
  if (ept - spec.spt < auxBatchSize) {
    throw new UserError(`sampling: the kept slice [spt ${spec.spt}, ept ${ept}) holds ${ept - spec.spt} candidates, fewer than the outlier batch size ${auxBatchSize}; widen the slice or the pool, or lower aux_batch_size`);
  }
  return { auxBatchSize, poolSize: pool, ept };
}

/** The `sampling` section as config keys (snake_case), for a run's resolved config.yaml. */
export function samplingToConfig(s: SamplingSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { method: s.method };
  if (s.method === 'energy') {
    Object.assign(out, { clusters: s.clusters, spt: s.spt, two_way: s.twoWay, normalize: s.normalize, n_init: s.nInit });
    if (s.candidatesTotal !== undefined) out.candidates_total = s.candidatesTotal;
    if (s.poolSize !== undefined) out.pool_size = s.poolSize;
    if (s.ept !== undefined) out.ept = s.ept;
    if (s.pcaComponents !== undefined) out.pca_components = s.pcaComponents;
  }
  if (s.auxBatchSize !== undefined) out.aux_batch_size = s.auxBatchSize;
  return out;
}
