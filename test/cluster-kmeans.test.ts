import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { adjustedRandIndex } from '../src/cluster/ari';
import { gram, kmeans } from '../src/cluster/kmeans';
import { Rng } from '../src/util/rng';

/** `perCluster` points around each of `k` centres 10 apart (per coordinate scale), noise sd `noise`. */
function blobs(k: number, perCluster: number, d: number, noise: number, seed: number): { x: Float32Array; truth: number[] } {
  const rng = new Rng(seed);
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => 10 * rng.normal()));
  const order = rng.permutation(k * perCluster); // interleave the clusters in the data
  const x = new Float32Array(k * perCluster * d);
  const truth: number[] = [];
  order.forEach((slot, i) => {
    const c = slot % k;
    truth.push(c);
    for (let t = 0; t < d; t++) x[i * d + t] = centres[c][t] + noise * rng.normal();
  });
  return { x, truth };
}

function sse(x: Float32Array, d: number, labels: Int32Array, centroids: Float32Array): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    for (let t = 0; t < d; t++) s += (x[i * d + t] - centroids[labels[i] * d + t]) ** 2;
  }
  return s;
}

describe('adjustedRandIndex', () => {
  it('is 1 for identical partitions, whatever the label names', () => {
    assert.equal(adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 1]), 1);
    assert.equal(adjustedRandIndex([0, 0, 1, 1], [5, 5, -2, -2]), 1);
  });
  it('matches hand-computed values', () => {
    // contingency {2,1,1}: index 1, rows ΣC = 1, cols ΣC = 2, C(4) = 6 → (1 − 1/3) / (3/2 − 1/3) = 4/7
    assert.ok(Math.abs(adjustedRandIndex([0, 0, 1, 2], [0, 0, 1, 1]) - 4 / 7) < 1e-12);
    assert.ok(Math.abs(adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2]) - 4 / 7) < 1e-12);
    // index 2, rows 6, cols 3, C(6) = 15 → (2 − 1.2) / (4.5 − 1.2)
    assert.ok(Math.abs(adjustedRandIndex([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) - 0.8 / 3.3) < 1e-12);
    // one cluster against all singletons: expected = index = 0
    assert.equal(adjustedRandIndex([0, 0, 0, 0], [0, 1, 2, 3]), 0);
    // a split that disagrees with the truth more than chance is negative
    assert.ok(adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1]) < 0);
  });
  it('treats the degenerate partitions as agreeing', () => {
    assert.equal(adjustedRandIndex([1, 1, 1], [2, 2, 2]), 1);
    assert.equal(adjustedRandIndex([0, 1, 2], [2, 0, 1]), 1);
    assert.equal(adjustedRandIndex([], []), 1);
  });
  it('rejects labelings of different lengths', () => {
    assert.throws(() => adjustedRandIndex([0, 1], [0]), RangeError);
  });
});

describe('gram', () => {
  it('equals the naive X Xᵀ, also when n is not a multiple of the block size', () => {
    const rng = new Rng(5);
    for (const n of [1, 2, 3, 7, 8]) {
      const d = 5;
      const x = Float32Array.from({ length: n * d }, () => rng.normal());
      const g = gram(x, n, d);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let t = 0; t < d; t++) s += x[i * d + t] * x[j * d + t];
          assert.ok(Math.abs(g[i * n + j] - s) < 1e-12, `n=${n} G[${i},${j}]`);
        }
      }
    }
  });
});

describe('kmeans', () => {
  it('recovers well-separated blobs', () => {
    for (const seed of [1, 2, 3]) {
      const { x, truth } = blobs(6, 30, 16, 1, seed);
      const r = kmeans(x, 16, { k: 6, rng: new Rng(seed), nInit: 3 });
      assert.equal(r.k, 6);
      assert.ok(adjustedRandIndex(r.labels, truth) > 0.95, `seed ${seed}: ARI ${adjustedRandIndex(r.labels, truth)}`);
    }
  });

  it('recovers the sampler-sized problem (384 points, 512 dims, 64 clusters)', () => {
    const { x, truth } = blobs(64, 6, 512, 2, 11);
    const r = kmeans(x, 512, { k: 64, rng: new Rng(4), nInit: 3 });
    assert.ok(adjustedRandIndex(r.labels, truth) > 0.95, `ARI ${adjustedRandIndex(r.labels, truth)}`);
  });

  it('is deterministic for a seed', () => {
    const { x } = blobs(4, 25, 6, 4, 7); // overlapping blobs, so the seeding matters
    const a = kmeans(x, 6, { k: 5, rng: new Rng(42) });
    const b = kmeans(x, 6, { k: 5, rng: new Rng(42) });
    assert.deepEqual(a.labels, b.labels);
    assert.equal(a.inertia, b.inertia);
    assert.deepEqual(a.centroids, b.centroids);
  });

  it('starts differently for different seeds, and keeps the best of its restarts', () => {
    const rng = new Rng(9);
    const x = Float32Array.from({ length: 200 * 3 }, () => rng.next()); // no cluster structure
    const runs = [1, 2, 3, 4].map((s) => kmeans(x, 3, { k: 8, rng: new Rng(s), nInit: 1 }));
    assert.ok(new Set(runs.map((r) => r.inertia)).size > 1, 'different seeds should reach different local optima');
    for (const s of [1, 2, 3, 4]) {
      // The first restart consumes the same random numbers as an nInit = 1 run.
      const one = kmeans(x, 3, { k: 8, rng: new Rng(s), nInit: 1 });
      const many = kmeans(x, 3, { k: 8, rng: new Rng(s), nInit: 5 });
      assert.ok(many.inertia <= one.inertia);
    }
  });

  it('returns centroids that are the cluster means, and their inertia', () => {
    const { x } = blobs(3, 20, 4, 3, 21);
    const r = kmeans(x, 4, { k: 3, rng: new Rng(1) });
    const sums = new Float64Array(3 * 4);
    const counts = [0, 0, 0];
    r.labels.forEach((l, i) => {
      counts[l]++;
      for (let t = 0; t < 4; t++) sums[l * 4 + t] += x[i * 4 + t];
    });
    for (let j = 0; j < 3; j++) for (let t = 0; t < 4; t++) assert.ok(Math.abs(r.centroids[j * 4 + t] - sums[j * 4 + t] / counts[j]) < 1e-4);
    assert.ok(Math.abs(r.inertia - sse(x, 4, r.labels, r.centroids)) < 1e-3 * r.inertia);
  });

  it('puts every point in its own cluster when k >= n', () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
    for (const k of [3, 10]) {
      const r = kmeans(x, 2, { k, rng: new Rng(1) });
      assert.equal(r.k, 3);
      assert.deepEqual(Array.from(r.labels), [0, 1, 2]);
      assert.equal(r.inertia, 0);
      assert.deepEqual(r.centroids, x);
    }
  });

  it('keeps every cluster non-empty with duplicate points', () => {
    // 10 points on 3 distinct locations, 5 clusters: duplicates must be split.
    const locations = [[0, 0], [5, 5], [9, 0]];
    const x = Float32Array.from([0, 0, 0, 1, 1, 1, 2, 2, 2, 0].flatMap((l) => locations[l]));
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = kmeans(x, 2, { k: 5, rng: new Rng(seed) });
      const counts = new Array(5).fill(0);
      r.labels.forEach((l) => counts[l]++);
      assert.ok(counts.every((c) => c > 0), `seed ${seed}: counts ${counts}`);
      assert.equal(r.inertia, 0);
      // points at different locations never share a cluster
      for (let i = 0; i < 10; i++) for (let j = 0; j < 10; j++) {
        if (r.labels[i] === r.labels[j]) assert.deepEqual([x[2 * i], x[2 * i + 1]], [x[2 * j], x[2 * j + 1]]);
      }
    }
    const same = kmeans(new Float32Array(12).fill(3), 3, { k: 3, rng: new Rng(1) });
    assert.deepEqual(new Set(same.labels), new Set([0, 1, 2])); // 4 identical points, 3 non-empty clusters
    assert.equal(same.inertia, 0);
  });

  it('rejects malformed input', () => {
    const rng = new Rng(1);
    assert.throws(() => kmeans(new Float32Array(5), 2, { k: 1, rng }), /\[n, 2\] matrix/);
    assert.throws(() => kmeans(new Float32Array(0), 2, { k: 1, rng }), RangeError);
    assert.throws(() => kmeans(new Float32Array(4), 2, { k: 0, rng }), /k must be/);
    assert.throws(() => kmeans(new Float32Array(4), 2, { k: 1, rng, nInit: 0 }), /nInit/);
    assert.throws(() => kmeans(Float32Array.from([0, 1, NaN, 2]), 2, { k: 1, rng }), /feature 0 of point 1 is NaN/);
  });
});
