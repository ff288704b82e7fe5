/**
 * npm run bench:step — ms per training step of the default small CNN on 28x28x1 inputs,
 * batch 128 (64 ID + 64 outliers, as one GReg step sees them): plain
 * (L_CE + λ_S·L_S), exact GReg (double backprop) and finite-difference GReg, on
 * the backend in use; and, where Debian's PyTorch is importable, the same three
 * steps in PyTorch (bench/step_torch.py), as installed and with grodd's runtime
 * settings (see torch-side.ts), with the ratios and each side's peak RSS; and
 * grodd's kernel calls per exact step and its fixed cost (the same step on one
 * ID and one outlier image of 8x8, where the kernels compute next to nothing).
 * Usage: npm run bench:step -- [--backend native] [--reps 5] [--threads 2] [--channels '[32,64]' --strides '[1,2]']
 * (the default net is the one configs use; [32,64] at strides [1,2] is the 2-conv net of ENGINEERING.md's reference figures)
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendChoice, initBackend } from '../src/engine/backend';
import { SMALL_CNN_DEFAULTS, SmallCnn } from '../src/models/small-cnn';
import { makeOptimizer } from '../src/train/optimizers';
import { LossSettings, trainStep } from '../src/train/step';
import { Rng } from '../src/util/rng';
import { arg } from './args';
import { GRODD_RUNTIME, runTorchSide } from './torch-side';

const N_IN = 64;
const N_OUT = 64;
const WARMUP = 2;
const reps = Number(arg('reps', '5'));
const net = { channels: JSON.parse(arg('channels', JSON.stringify(SMALL_CNN_DEFAULTS.channels))) as number[], strides: JSON.parse(arg('strides', JSON.stringify(SMALL_CNN_DEFAULTS.strides))) as number[] };
const threads = Number(arg('threads', '2'));

async function main(): Promise<void> {
  const backend = await initBackend(arg('backend', 'auto') as BackendChoice, (m) => console.log(m), { threads, wasmThreads: threads });
  const rng = new Rng(0);
  const model = new SmallCnn([28, 28, 1], 6, net, rng);
  const opt = makeOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true, weight_decay: 5e-4 });
  const xIn = tf.tensor4d(Float32Array.from({ length: N_IN * 784 }, () => rng.next()), [N_IN, 28, 28, 1]);
  const xOut = tf.tensor4d(Float32Array.from({ length: N_OUT * 784 }, () => rng.next()), [N_OUT, 28, 28, 1]);
  const yIn = tf.tensor1d(Int32Array.from({ length: N_IN }, () => rng.int(6)), 'int32');
  const base: LossSettings = { energyWeight: 0.1, oeWeight: 0, gradRegWeight: 0, gradRegMode: 'exact', fdStep: 1e-3, margins: { mIn: -7, mOut: -3 } };
  const variants: [string, LossSettings][] = [
    ['plain', base],
    ['exact', { ...base, gradRegWeight: 1 }],
    ['finite_difference', { ...base, gradRegWeight: 1, gradRegMode: 'finite-difference' }],
  ];
  const ours: Record<string, number> = {};
  for (const [name, s] of variants) {
    for (let i = 0; i < WARMUP; i++) trainStep(model, opt, 0.01, xIn, yIn, xOut, s);
    const t = performance.now();
    for (let i = 0; i < reps; i++) trainStep(model, opt, 0.01, xIn, yIn, xOut, s);
    ours[name] = (performance.now() - t) / reps;
  }
  const rss = process.resourceUsage().maxRSS / 1024;
  // The engine's share: kernel calls of one exact step, and the step's time where the kernels do next to nothing.
  const exact = variants[1][1];
  const calls = (await tf.profile(() => void trainStep(model, opt, 0.01, xIn, yIn, xOut, exact))).kernels.length;
  const tiny = new SmallCnn([8, 8, 1], 6, net, rng);
  const tinyOpt = makeOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true, weight_decay: 5e-4 });
  const [tIn, tOut] = [tf.randomUniform([1, 8, 8, 1]) as tf.Tensor4D, tf.randomUniform([1, 8, 8, 1]) as tf.Tensor4D];
  const tY = tf.tensor1d([0], 'int32');
  for (let i = 0; i < WARMUP; i++) trainStep(tiny, tinyOpt, 0.01, tIn, tY, tOut, exact);
  const t0 = performance.now();
  for (let i = 0; i < reps * 4; i++) trainStep(tiny, tinyOpt, 0.01, tIn, tY, tOut, exact);
  const fixedMs = (performance.now() - t0) / (reps * 4);
  const args = [threads, N_IN, N_OUT, WARMUP, reps, JSON.stringify(net.channels), JSON.stringify(net.strides)];
  const sides = [runTorchSide<Record<string, number | string>>('step_torch.py', args), runTorchSide<Record<string, number | string>>('step_torch.py', args, GRODD_RUNTIME)];
  const [asIs, tuned] = sides.map((x) => ('figures' in x ? x.figures : undefined));
  console.log(`small CNN channels [${net.channels}] strides [${net.strides}], 28x28x1, batch ${N_IN} ID + ${N_OUT} outliers, mean of ${reps} steps after ${WARMUP} warm-up, ${threads} threads`);
  console.log(`step               grodd/${backend} ms${asIs ? `   PyTorch ${asIs.torch} ms   ratio   PyTorch, grodd's runtime ms   ratio` : ''}`);
  for (const [name] of variants) {
    const cell = (f: Record<string, number | string> | undefined) => {
      const v = f?.[`${name}_ms`] as number | undefined;
      return v === undefined ? '' : `${v.toFixed(0).padStart(14)}   ${(ours[name] / v).toFixed(2)}x`;
    };
    console.log(`${name.padEnd(18)} ${ours[name].toFixed(0).padStart(12)}${cell(asIs)}${tuned ? `   ${cell(tuned).padStart(26)}` : ''}`);
  }
  console.log(`peak RSS grodd ${rss.toFixed(0)} MB${asIs ? `, PyTorch ${Number(asIs.peak_rss_mb).toFixed(0)} MB` : ''}${tuned ? ` (with grodd's runtime ${Number(tuned.peak_rss_mb).toFixed(0)} MB)` : ''}`);
  console.log(`exact step: ${calls} kernel calls; the same step on 1 + 1 images of 8x8 takes ${fixedMs.toFixed(1)} ms (grodd's fixed per-step cost)`);
  const why = sides.map((x) => ('reason' in x ? x.reason : '')).find((r) => r);
  if (why) console.log(why);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
