/**
 * npm run bench:kernels — the throughput ceiling under the step benchmarks: the
 * 3x3 convolutions of the benchmarked networks (forward, and forward + both
 * backward products, as a training step runs them) and a 1024³ matmul, in
 * GMAC/s on the backend in use and, where Debian's PyTorch is importable, in
 * PyTorch (bench/kernels_torch.py, same threads). A training step is mostly
 * these products, so their PyTorch/grodd throughput ratio bounds how close the
 * step-time ratios of bench:step and bench:models can come to PyTorch.
 * Usage: npm run bench:kernels -- [--backend wasm] [--threads 2] [--reps 5]
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendChoice, initBackend } from '../src/engine/backend';
import { Rng } from '../src/util/rng';
import { arg } from './args';
import { runTorchSide } from './torch-side';

const reps = Number(arg('reps', '5'));
const threads = Number(arg('threads', '2'));

/** name, input NHWC, output channels, stride (3x3 kernels, padding 1). */
export const CONV_CASES: [string, [number, number, number, number], number, number][] = [
  ['small-cnn block 2', [128, 14, 14, 32], 64, 2],
  ['2-conv net conv 2', [128, 28, 28, 32], 64, 2],
  ['resnet18 layer1', [64, 32, 32, 64], 64, 1],
  ['resnet18 layer3', [64, 8, 8, 256], 256, 1],
  ['wrn-40-2 block 1', [64, 32, 32, 32], 32, 1],
];
const MATMUL = 1024;

function msPer(fn: () => tf.Tensor | tf.Tensor[]): number {
  const run = () => {
    const out = fn();
    const all = Array.isArray(out) ? out : [out];
    for (const t of all) t.dataSync();
    tf.dispose(all);
  };
  run();
  const t = performance.now();
  for (let i = 0; i < reps; i++) run();
  return (performance.now() - t) / reps;
}

async function main(): Promise<void> {
  const backend = await initBackend(arg('backend', 'auto') as BackendChoice, (m) => console.log(m));
  const rng = new Rng(0);
  const rand = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.next() - 0.5), shape);
  const ours: Record<string, { fwd: number; train: number }> = {};
  for (const [name, [n, h, w, ci], co, stride] of CONV_CASES) {
    const x = rand([n, h, w, ci]) as tf.Tensor4D;
    const k = rand([3, 3, ci, co]) as tf.Tensor4D;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 1], [1, 1], [0, 0]];
    const ho = Math.floor((h + 2 - 3) / stride) + 1;
    const wo = Math.floor((w + 2 - 3) / stride) + 1;
    const dy = rand([n, ho, wo, co]);
    const macs = n * ho * wo * co * 9 * ci;
    const fwd = msPer(() => tf.conv2d(x, k, stride, pad));
    // Forward plus the input and filter gradients: 3x the MACs.
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), dy)));
    const train = msPer(() => grads([x, k]));
    ours[name] = { fwd: macs / fwd / 1e6, train: (3 * macs) / train / 1e6 };
    tf.dispose([x, k, dy]);
  }
  const a = rand([MATMUL, MATMUL]) as tf.Tensor2D;
  const b = rand([MATMUL, MATMUL]) as tf.Tensor2D;
  const mm = MATMUL ** 3 / msPer(() => tf.matMul(a, b)) / 1e6;
  tf.dispose([a, b]);

  const side = runTorchSide<Record<string, { fwd: number; train: number }> & { matmul?: number; torch?: string }>('kernels_torch.py', [threads, reps, JSON.stringify(CONV_CASES), MATMUL]);
  const torch = 'figures' in side ? side.figures : undefined;
  const cell = (g: number, p?: number) => `${g.toFixed(1).padStart(6)}${p !== undefined ? ` ${p.toFixed(1).padStart(6)} ${(p / g).toFixed(2).padStart(5)}x` : ''}`;
  console.log(`3x3 convolutions (padding 1) and a ${MATMUL}³ matmul, GMAC/s, mean of ${reps} after 1 warm-up`);
  console.log(`${'case'.padEnd(40)} forward: grodd/${backend}${torch ? ` PyTorch ${torch.torch} ratio` : ''} | fwd+both grads: grodd${torch ? ' PyTorch ratio' : ''}`);
  for (const [name, [n, h, w, ci], co, stride] of CONV_CASES) {
    const label = `${name} [${n},${h},${w},${ci}]->${co} s${stride}`;
    console.log(`${label.padEnd(40)} ${cell(ours[name].fwd, torch?.[name]?.fwd)} | ${cell(ours[name].train, torch?.[name]?.train)}`);
  }
  console.log(`${`matmul ${MATMUL}x${MATMUL}x${MATMUL}`.padEnd(40)} ${cell(mm, torch?.matmul)}`);
  if ('reason' in side) console.log(side.reason);
  else console.log('ratio = PyTorch throughput / grodd throughput: how much slower the products that dominate a training step are in grodd');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
