/**
 * Time per training step of the GReg+ outlier selection (sort, normalise,
 * k-means, picks, fill) at the CIFAR setting: pool 384 (= 300,000 / 50,000 × 64),
 * feature dim 512, k = 64 clusters, n_init 3, two-way, outlier batch 128.
 * Features come from 64 seeded Gaussian clusters; energies are seeded normals.
 *
 *   node --require tsx/cjs bench/sampler.ts [repetitions=20] [normalize=per-sample]
 */
import { kmeans } from '../src/cluster/kmeans';
import { Normalization, NORMALIZATIONS } from '../src/cluster/normalize';
import { poolSize, selectOutliers } from '../src/train/energy-sampling';
import { Rng } from '../src/util/rng';

const reps = Number(process.argv[2] ?? 20);
const normalize = (process.argv[3] ?? 'per-sample') as Normalization;
if (!Number.isInteger(reps) || reps < 1) throw new Error(`repetitions must be a positive integer, got ${process.argv[2]}`);
if (!NORMALIZATIONS.includes(normalize)) throw new Error(`normalize must be one of ${NORMALIZATIONS.join(', ')}`);

const pool = poolSize(300_000, 50_000, 64);
const d = 512;
const clusters = 64;
const batchSize = 128;

function step(seed: number): { energies: Float32Array; features: Float32Array } {
  const rng = Rng.derive(seed, 'bench-sampler');
  const centres = Array.from({ length: clusters }, () => Float32Array.from({ length: d }, () => rng.normal()));
  const features = new Float32Array(pool * d);
  for (let i = 0; i < pool; i++) {
    const c = centres[rng.int(clusters)];
    for (let t = 0; t < d; t++) features[i * d + t] = c[t] + 0.5 * rng.normal();
  }
  const energies = Float32Array.from({ length: pool }, () => -7 + 2 * rng.normal());
  return { energies, features };
}

const inputs = Array.from({ length: reps + 3 }, (_, s) => step(s));
const run = (i: number): void => {
  const { energies, features } = inputs[i];
  selectOutliers({ energies, features, d, batchSize, clusters, spt: 0, twoWay: true, normalize, pcaComponents: 32, nInit: 3, rng: new Rng(i) });
};
for (let i = 0; i < 3; i++) run(reps + i); // JIT warm-up on separate inputs

// Wall time, and CPU time of this process, which a busy shared machine inflates less.
const times: number[] = [];
const cpuTimes: number[] = [];
for (let i = 0; i < reps; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  run(i);
  times.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpuTimes.push((c.user + c.system) / 1000);
}
const kmTimes: number[] = [];
for (let i = 0; i < reps; i++) {
  const t0 = performance.now();
  kmeans(inputs[i].features, d, { k: clusters, rng: new Rng(i), nInit: 3 });
  kmTimes.push(performance.now() - t0);
}
const stats = (v: number[]): string => {
  const s = [...v].sort((a, b) => a - b);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return `mean ${mean.toFixed(1)} ms, median ${s[Math.floor(s.length / 2)].toFixed(1)} ms, min ${s[0].toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms`;
};
console.log(`selectOutliers: pool ${pool}, d ${d}, k ${clusters}, n_init 3, two-way, batch ${batchSize}, normalize ${normalize}, ${reps} reps`);
console.log(`  per step (wall): ${stats(times)}`);
console.log(`  per step (CPU):  ${stats(cpuTimes)}`);
console.log(`  of which k-means alone: ${stats(kmTimes)}`);
