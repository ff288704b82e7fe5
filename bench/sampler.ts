/**
 * Time per training step of the GReg+ outlier selection (sort, normalise,
 * k-means, picks, fill) at the CIFAR setting: pool 384 (= 300,000 / 50,000 × 64),
 * feature dim 512, k = 64 clusters, n_init 3, two-way, outlier batch 128.
 * Features come from 64 seeded Gaussian clusters; energies are seeded normals.
 *
 *   npm run bench:sampler -- [repetitions=20] [normalize=per-sample] [--no-step]
 */
import { kmeans } from '../src/cluster/kmeans';
import { Normalization, NORMALIZATIONS } from '../src/cluster/normalize';
import { poolSize, selectOutliers } from '../src/train/energy-sampling';
import { Rng } from '../src/util/rng';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend';
import { batchOutputs } from '../src/infer/outputs';
import { ResNet18 } from '../src/models/resnet18';
import { makeOptimizer } from '../src/train/optimizers';
import { trainStep } from '../src/train/step';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const reps = Number(positional[0] ?? 20);
const normalize = (positional[1] ?? 'per-sample') as Normalization;
if (!Number.isInteger(reps) || reps < 1) throw new Error(`repetitions must be a positive integer, got ${positional[0]}`);
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

/**
 * The sampler's share of a GReg+ step with ResNet-18 (CIFAR, batch 64 ID + 128
 * outliers, exact regularizer): the selection above, and the candidate scoring
 * (an eval-mode forward of the 384-image pool) that GReg+ adds to each step.
 * The double-backprop step at batch 64 + 128 does not fit the wasm backend's
 * 4 GB heap, so the step and the scoring are timed at an eighth of the batch
 * (8 + 16 images, 48 candidates) and scaled by 8 (both are linear in the batch).
 * Skipped with --no-step (the ResNet-18 step takes tens of seconds on 2 cores).
 */
async function shareOfResNetStep(selectMs: number): Promise<void> {
  const backend = await initBackend('auto');
  const rng = new Rng(0);
  const model = new ResNet18([32, 32, 3], 10, rng);
  const opt = makeOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true, weight_decay: 5e-4 });
  const img = (n: number): Float32Array => Float32Array.from({ length: n * 32 * 32 * 3 }, () => rng.normal());
  const q = 8;
  const xIn = tf.tensor4d(img(64 / q), [64 / q, 32, 32, 3]);
  const xOut = tf.tensor4d(img(batchSize / q), [batchSize / q, 32, 32, 3]);
  const yIn = tf.tensor1d(Int32Array.from({ length: 64 / q }, () => rng.int(10)), 'int32');
  const settings = { energyWeight: 0.1, oeWeight: 0, gradRegWeight: 1, gradRegMode: 'exact' as const, fdStep: 1e-3, margins: { mIn: -7, mOut: -3 } };
  trainStep(model, opt, 0.01, xIn, yIn, xOut, settings); // warm-up
  let t0 = performance.now();
  trainStep(model, opt, 0.01, xIn, yIn, xOut, settings);
  const stepMs = q * (performance.now() - t0);
  const poolBatch = { x: img(pool / q), y: new Int32Array(pool / q).fill(-1), n: pool / q, shape: [32, 32, 3] as [number, number, number] };
  await batchOutputs(model, poolBatch); // warm-up
  t0 = performance.now();
  await batchOutputs(model, poolBatch);
  const scoreMs = q * (performance.now() - t0);
  const total = stepMs + scoreMs + selectMs;
  console.log(`ResNet-18 GReg+ step on ${backend} (64 ID + ${batchSize} outliers, exact; timed at 1/${q} batch, x${q}): training step ${stepMs.toFixed(0)} ms, candidate scoring (${pool} images, eval forward) ${scoreMs.toFixed(0)} ms`);
  console.log(`  selection share of the whole step: ${((100 * selectMs) / total).toFixed(2)}% (target < 15%); selection + candidate scoring: ${((100 * (selectMs + scoreMs)) / total).toFixed(1)}%`);
}

if (!process.argv.includes('--no-step')) {
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  shareOfResNetStep(mean).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
