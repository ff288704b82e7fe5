import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { batchNorm, normalizeFeatures, NORMALIZATIONS, pcaProject, perFeature, perSample } from '../src/cluster/normalize';
import { ConfigReader } from '../src/config/reader';
import { defaultAuxBatchSize, parseSampling, poolSize, resolveSampling, selectOutliers, SelectOutliersInput } from '../src/train/energy-sampling';
import { UserError } from '../src/util/errors';
import { Rng } from '../src/util/rng';

/**
 * 12 candidates in 2-D, in three tight clusters at 0°, 120° and 240° (radius
 * about 10): candidate i belongs to cluster i % 3 (A, B, C).
 *
 *   A = {0, 3, 6, 9}:  energies −5, −8, −3, −7   → lowest 3,  highest 6
 *   B = {1, 4, 7, 10}: energies −9, −1, −4, −11  → lowest 10, highest 4
 *   C = {2, 5, 8, 11}: energies −2, −6, −10, −12 → lowest 11, highest 2
 *
 * Ascending energy: 11 10 8 1 3 9 5 0 7 6 2 4.
 */
const ENERGIES = Float32Array.from([-5, -9, -2, -8, -1, -6, -3, -4, -10, -7, -11, -12]);
function features(): Float32Array {
  const jitter = new Rng(3);
  const x = new Float32Array(12 * 2);
  for (let i = 0; i < 12; i++) {
    const angle = ((i % 3) * 2 * Math.PI) / 3 + 0.05 * jitter.normal();
    const radius = 10 + 0.3 * jitter.normal();
    x[2 * i] = radius * Math.cos(angle);
    x[2 * i + 1] = radius * Math.sin(angle);
  }
  return x;
}

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

function select(over: Partial<SelectOutliersInput>): ReturnType<typeof selectOutliers> {
  return selectOutliers({
    energies: ENERGIES, features: features(), d: 2, batchSize: 3, clusters: 3, spt: 0,
    twoWay: false, normalize: 'per-sample', nInit: 3, rng: new Rng(1), ...over,
  });
}

describe('selectOutliers', () => {
  it('one-way: the lowest-energy candidate of each cluster, under every normalisation', () => {
    for (const normalize of NORMALIZATIONS) {
      const s = select({ normalize, pcaComponents: 2 });
      assert.deepEqual(sorted(s.indices), [3, 10, 11], normalize);
      assert.deepEqual(s.low, [11, 10, 3]);
      assert.deepEqual(s.high, []);
      assert.deepEqual(s.fill, []);
      assert.equal(s.clusters, 3);
      assert.ok(Math.abs(s.meanEnergy - (-12 - 11 - 8) / 3) < 1e-12);
      assert.ok(Math.abs(s.keptMeanEnergy - -6.5) < 1e-12);
    }
  });

  it('two-way: also the highest-energy candidate of each cluster', () => {
    const s = select({ batchSize: 6, twoWay: true });
    assert.deepEqual(s.low, [11, 10, 3]);
    assert.deepEqual(s.high, [6, 2, 4]);
    assert.deepEqual(sorted(s.indices), [2, 3, 4, 6, 10, 11]);
  });

  it('keeps only the [spt, ept) slice of the ascending-energy order', () => {
    // kept: 8 1 3 9 5 0 7 6 → A {3, 9, 0, 6}, B {1, 7}, C {8, 5}
    assert.deepEqual(select({ spt: 2, ept: 10 }).low, [8, 1, 3]);
    const two = select({ spt: 2, ept: 10, batchSize: 6, twoWay: true });
    assert.deepEqual(two.low, [8, 1, 3]);
    assert.deepEqual(two.high, [5, 7, 6]);
    assert.deepEqual(select({ spt: 3 }).low, [1, 3, 5]); // default ept: the whole pool
  });

  it('fills up at random from the kept slice only, without repeats', () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const s = select({ spt: 2, ept: 10, batchSize: 7, rng: new Rng(seed) });
      assert.deepEqual(s.low, [8, 1, 3]);
      assert.equal(s.fill.length, 4);
      assert.equal(new Set(s.indices).size, 7);
      for (const f of s.fill) assert.ok([9, 5, 0, 7, 6].includes(f), `fill ${f} is outside the kept slice or already picked`);
      seen.add([...s.fill].sort().join());
      const again = select({ spt: 2, ept: 10, batchSize: 7, rng: new Rng(seed) });
      assert.deepEqual(again.indices, s.indices);
    }
    assert.ok(seen.size > 1, 'the fill should depend on the seed');
  });

  it('fills the slot of a single-member cluster in two-way sampling', () => {
    // A = {0, 1, 2} at 0°, B = {3, 4, 5} at 120°, C = {6} alone at 240°.
    const x = new Float32Array(14);
    [0, 0, 0, 1, 1, 1, 2].forEach((c, i) => {
      x[2 * i] = Math.cos((c * 2 * Math.PI) / 3) * (10 + i * 0.01);
      x[2 * i + 1] = Math.sin((c * 2 * Math.PI) / 3) * (10 + i * 0.01);
    });
    const energies = Float32Array.from([-1, -2, -3, -4, -5, -6, -7]);
    const s = selectOutliers({ energies, features: x, d: 2, batchSize: 6, clusters: 3, spt: 0, twoWay: true, normalize: 'per-sample', nInit: 3, rng: new Rng(2) });
    assert.deepEqual(s.low, [6, 5, 2]);
    assert.deepEqual(s.high, [3, 0]);
    assert.equal(s.fill.length, 1);
    assert.ok([1, 4].includes(s.fill[0]));
  });

  it('caps the clusters so that two-way picks fit the batch', () => {
    // B = 4 two-way: 2 clusters; the global extremes are extremes of their clusters.
    const s = select({ batchSize: 4, twoWay: true });
    assert.equal(s.clusters, 2);
    assert.equal(s.low.length, 2);
    assert.equal(s.high.length, 2);
    assert.equal(s.fill.length, 0);
    assert.equal(s.low[0], 11);
    assert.equal(s.high[s.high.length - 1], 4);
    assert.equal(new Set(s.indices).size, 4);
    // B = 1 two-way: one cluster, and its low pick wins the only slot.
    assert.deepEqual(select({ batchSize: 1, twoWay: true }).indices, [11]);
    // One-way uses k = min(clusters, B).
    assert.equal(select({ batchSize: 5, clusters: 4 }).clusters, 4);
  });

  it('shuffles the batch, so that micro-batch slices mix low, high and fill picks', () => {
    // 48 candidates in 8 tight directions (6 each), energies spread over them: 8 low, 8 high, 16 fill.
    const n = 48;
    const x = new Float32Array(n * 2);
    const e = new Float32Array(n);
    const jitter = new Rng(4);
    for (let i = 0; i < n; i++) {
      const angle = ((i % 8) * 2 * Math.PI) / 8 + 0.01 * jitter.normal();
      x[2 * i] = Math.cos(angle);
      x[2 * i + 1] = Math.sin(angle);
      e[i] = -i;
    }
    const orders = new Set<string>();
    for (let seed = 1; seed <= 10; seed++) {
      const s = selectOutliers({ energies: e, features: x, d: 2, batchSize: 32, clusters: 8, spt: 0, twoWay: true, normalize: 'per-sample', nInit: 3, rng: new Rng(seed) });
      assert.equal(s.low.length, 8);
      assert.equal(s.high.length, 8);
      assert.deepEqual(sorted(s.indices), sorted([...s.low, ...s.high, ...s.fill]));
      orders.add(s.indices.join());
      // Four micro-batch slices of 8: none holds one kind only, and low picks are spread over at least three.
      const kinds = (slice: number[]) => new Set(slice.map((i) => (s.low.includes(i) ? 'low' : s.high.includes(i) ? 'high' : 'fill')));
      const slices = [0, 1, 2, 3].map((k) => s.indices.slice(8 * k, 8 * k + 8));
      for (const slice of slices) assert.ok(kinds(slice).size >= 2, `seed ${seed}: slice [${slice}] holds only ${[...kinds(slice)]}`);
      assert.ok(slices.filter((slice) => slice.some((i) => s.low.includes(i))).length >= 3, `seed ${seed}: low picks in [${s.indices}]`);
      const again = selectOutliers({ energies: e, features: x, d: 2, batchSize: 32, clusters: 8, spt: 0, twoWay: true, normalize: 'per-sample', nInit: 3, rng: new Rng(seed) });
      assert.deepEqual(again.indices, s.indices, 'the order is fixed by the seed');
    }
    assert.ok(orders.size > 1, 'the order depends on the seed');
  });

  it('rejects inconsistent input', () => {
    assert.throws(() => select({ d: 3 }), /12 × 3 feature values/);
    assert.throws(() => select({ spt: 5, ept: 5 }), /spt < ept/);
    assert.throws(() => select({ ept: 13 }), /pool size 12/);
    assert.throws(() => select({ spt: 10, batchSize: 3 }), /fewer than the batch size 3/);
    assert.throws(() => select({ energies: Float32Array.from([...ENERGIES.slice(0, 11), NaN]) }), /candidate 11 is NaN/);
  });
});

describe('pool sizes', () => {
  it('takes the ID-epoch share of the candidates: 300,000 / 50,000 × 64 = 384', () => {
    assert.equal(poolSize(300_000, 50_000, 64), 384);
    assert.equal(poolSize(300_000, 50_000, 32), 192);
    assert.equal(poolSize(10, 4, 1), 3); // 2.5 rounds up
    assert.throws(() => poolSize(0, 50_000, 64), /candidatesTotal/);
  });
  it('defaults the outlier batch to the ID batch, doubled with two-way sampling', () => {
    assert.equal(defaultAuxBatchSize(64, true), 128);
    assert.equal(defaultAuxBatchSize(64, false), 64);
  });
  it('resolves the CIFAR setting and checks the slice against the batch', () => {
    const cifar = { idTrainSize: 50_000, idBatchSize: 64, auxSize: 300_000 };
    const spec = parseSampling(section({ method: 'energy' }));
    assert.deepEqual(resolveSampling(spec, cifar), { auxBatchSize: 128, poolSize: 384, ept: 384 });
    assert.deepEqual(resolveSampling(parseSampling(section({ method: 'energy', pool_size: 200, two_way: false })), cifar), { auxBatchSize: 64, poolSize: 200, ept: 200 });
    assert.deepEqual(resolveSampling(parseSampling(section({})), cifar), { auxBatchSize: 64 });
    assert.throws(() => resolveSampling(parseSampling(section({ method: 'energy', spt: 300 })), cifar), /fewer than the outlier batch size 128/);
    assert.throws(() => resolveSampling(parseSampling(section({ method: 'energy', ept: 400 })), cifar), /sampling.ept: 400 exceeds/);
    assert.throws(() => resolveSampling(spec, { ...cifar, auxSize: 300 }), UserError);
  });
});

describe('normalisations', () => {
  const x = Float32Array.from([3, 0, 4, 2]); // rows (3, 0) and (4, 2)
  const close = (a: ArrayLike<number>, b: number[]): void => {
    assert.equal(a.length, b.length);
    for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6, `[${Array.from(a)}] vs [${b}]`);
  };
  it('per-sample divides each row by its norm', () => {
    close(perSample(x, 2), [1, 0, 4 / Math.sqrt(20), 2 / Math.sqrt(20)]);
    close(perSample(Float32Array.from([0, 0, 1, 1]), 2), [0, 0, Math.SQRT1_2, Math.SQRT1_2]);
  });
  it('per-feature divides each column by its norm over the pool', () => {
    close(perFeature(x, 2), [0.6, 0, 0.8, 1]);
  });
  it('batch-norm divides everything by the mean row norm', () => {
    const m = (3 + Math.sqrt(20)) / 2;
    close(batchNorm(x, 2), [3 / m, 0, 4 / m, 2 / m]);
  });
  it('none returns the features unchanged', () => {
    assert.equal(normalizeFeatures(x, 2, 'none').data, x);
  });
  it('pca projects the centred rows on the principal axes', () => {
    // Variance 4.5 along x, 0.5 along y.
    const p = Float32Array.from([3, 0, 0, -3, 0, 0, 0, 1, 0, 0, -1, 0]);
    const one = pcaProject(p, 3, 1);
    assert.equal(one.d, 1);
    close(one.data, [3, -3, 0, 0]);
    const two = normalizeFeatures(p, 3, 'pca', 5); // capped at min(n, d) = 3
    assert.equal(two.d, 3);
    close(Array.from(two.data).filter((_, i) => i % 3 < 2), [3, 0, -3, 0, 0, 1, 0, -1]);
  });
  it('pca keeps pairwise distances when it keeps the whole rank', () => {
    const rng = new Rng(8);
    const n = 20, d = 6;
    const basis = Array.from({ length: 3 * d }, () => rng.normal());
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const c = [rng.normal(), rng.normal(), rng.normal()];
      for (let t = 0; t < d; t++) data[i * d + t] = c[0] * basis[t] + c[1] * basis[d + t] + c[2] * basis[2 * d + t] + 1;
    }
    const { data: z } = pcaProject(data, d, 3);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) {
      let a = 0, b = 0;
      for (let t = 0; t < d; t++) a += (data[i * d + t] - data[j * d + t]) ** 2;
      for (let t = 0; t < 3; t++) b += (z[i * 3 + t] - z[j * 3 + t]) ** 2;
      assert.ok(Math.abs(Math.sqrt(a) - Math.sqrt(b)) < 1e-3 * (1 + Math.sqrt(a)));
    }
  });
});

function section(raw: Record<string, unknown>): ConfigReader {
  return ConfigReader.root({ sampling: raw }, 'cfg.yaml').object('sampling');
}

describe('parseSampling', () => {
  it('defaults to random sampling', () => {
    assert.deepEqual(parseSampling(section({})), { method: 'random' });
    assert.deepEqual(parseSampling(section({ aux_batch_size: 32 })), { method: 'random', auxBatchSize: 32 });
  });
  it('fills the GReg+ defaults', () => {
    assert.deepEqual(parseSampling(section({ method: 'energy' })), {
      method: 'energy', clusters: 64, spt: 0, twoWay: true, normalize: 'per-sample', nInit: 3,
    });
    assert.deepEqual(
      parseSampling(section({ method: 'energy', clusters: 32, candidates_total: 300000, spt: 8, ept: 300, two_way: false, normalize: 'pca', pca_components: 16, n_init: 1, aux_batch_size: 64 })),
      { method: 'energy', clusters: 32, candidatesTotal: 300000, spt: 8, ept: 300, twoWay: false, normalize: 'pca', pcaComponents: 16, nInit: 1, auxBatchSize: 64 },
    );
    assert.equal((parseSampling(section({ method: 'energy', normalize: 'pca' })) as { pcaComponents?: number }).pcaComponents, 32);
  });
  it('names the file and field of each mistake', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ method: 'energy', candidates_total: 300000, pool_size: 384 }, /cfg\.yaml: sampling\.pool_size: give either candidates_total or pool_size, not both/],
      [{ clusters: 32 }, /sampling\.clusters: applies only with method: energy \(method is random\)/],
      [{ method: 'energy', pca_components: 8 }, /sampling\.pca_components: applies only with normalize: pca/],
      [{ method: 'energy', normalize: 'l2' }, /sampling\.normalize: expected one of per-sample \| per-feature \| batch-norm \| none \| pca, got "l2"/],
      [{ method: 'kmeans' }, /sampling\.method: expected one of random \| energy/],
      [{ method: 'energy', spt: 10, ept: 10 }, /sampling\.ept: expected an integer > 10, got 10/],
      [{ method: 'energy', pool_size: 100, ept: 200 }, /sampling\.ept: must be <= pool_size \(100\)/],
      [{ method: 'energy', n_init: 0 }, /sampling\.n_init: expected an integer >= 1, got 0/],
      [{ method: 'energy', clusters: 2.5 }, /sampling\.clusters: expected an integer/],
      [{ method: 'energy', two_way: 'yes' }, /sampling\.two_way: expected true or false/],
      [{ method: 'energy', cluster: 8 }, /sampling\.cluster: unknown key \(did you mean "clusters"\?\)/],
      [{ aux_batch_size: 0 }, /sampling\.aux_batch_size: expected an integer >= 1/],
    ];
    for (const [raw, message] of bad) assert.throws(() => parseSampling(section(raw)), (e: unknown) => e instanceof UserError && message.test(e.message), JSON.stringify(raw));
  });
});

describe('pca with fewer samples than features', () => {
  it('projects through the sample Gram matrix and keeps the distances', () => {
    const rng = new Rng(12);
    const n = 6, d = 9;
    const data = Float32Array.from({ length: n * d }, () => rng.normal());
    const { data: z, d: m } = pcaProject(data, d, 6); // centred rank 5, so all of it is kept
    assert.equal(m, 6);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) {
      let a = 0, b = 0;
      for (let t = 0; t < d; t++) a += (data[i * d + t] - data[j * d + t]) ** 2;
      for (let t = 0; t < m; t++) b += (z[i * m + t] - z[j * m + t]) ** 2;
      assert.ok(Math.abs(Math.sqrt(a) - Math.sqrt(b)) < 1e-4 * (1 + Math.sqrt(a)), `${i},${j}: ${Math.sqrt(a)} vs ${Math.sqrt(b)}`);
    }
    // the scores' column variances come out in descending order
    const variance = (c: number): number => Array.from({ length: n }, (_, i) => z[i * m + c] ** 2).reduce((s, v) => s + v, 0);
    for (let c = 1; c < 5; c++) assert.ok(variance(c - 1) >= variance(c) - 1e-6);
  });
});
