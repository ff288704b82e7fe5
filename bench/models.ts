/**
 * npm run bench:models — the paper's architectures on the backend in use:
 * forward images/s (eval mode), plain training step ms (L_CE + λ_S·L_S) and
 * exact GReg step ms (double backprop), at batch 64 on 32x32x3 (half ID, half
 * outliers; DenseNet-121 at 224x224x3, batch 8); and, where Debian's PyTorch
 * is importable (/usr/bin/python3), the same in PyTorch (bench/models_torch.py,
 * 2 threads) with the ratio grodd / PyTorch.
 * Usage: npm run bench:models -- [--arch resnet18,wrn-40-2|all] [--reps 3] [--warmup 1] [--backend wasm] [--threads 2] [--batch 64] [--micro 1]
 * --micro c runs grodd's training steps in c micro-batches (train.micro_batches), for
 * batches whose double-backprop step does not fit the 4 GB wasm heap; PyTorch always runs the whole batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelArch } from '../src/config/config';
import { BackendChoice, initBackend } from '../src/engine/backend';
import { isWasmHeapFailure } from '../src/engine/wasm-heap';
import { countParams } from '../src/models/model';
import { createModel, defaultModelConfig } from '../src/models/registry';
import { makeOptimizer } from '../src/train/optimizers';
import { LossSettings, trainStep } from '../src/train/step';
import { Rng } from '../src/util/rng';
import { arg } from './args';
import { runTorchSide } from './torch-side';

const ALL: ModelArch[] = ['resnet18', 'wrn-40-2', 'densenet-bc-100', 'densenet121'];
const archs = (arg('arch', 'resnet18,wrn-40-2') === 'all' ? ALL : arg('arch', 'resnet18,wrn-40-2').split(',')) as ModelArch[];
const reps = Number(arg('reps', '3'));
const warmup = Number(arg('warmup', '1'));
const threads = Number(arg('threads', '2'));
const micro = Number(arg('micro', '1'));

interface Figures {
  forward_ips: number;
  plain_ms: number;
  exact_ms: number;
}

function time(fn: () => void): number {
  for (let i = 0; i < warmup; i++) fn();
  const t = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t) / reps;
}

let heapFailed = false;

async function main(): Promise<void> {
  const backend = await initBackend(arg('backend', 'auto') as BackendChoice, (m) => console.log(m));
  const lines: string[] = [];
  for (const arch of archs) {
    if (!ALL.includes(arch)) throw new Error(`unknown --arch ${arch} (expected ${ALL.join(', ')} or all)`);
    const big = arch === 'densenet121';
    const batch = Number(arg('batch', big ? '8' : '64'));
    const size = big ? 224 : 32;
    const k = big ? 1000 : 10;
    const rng = new Rng(0);
    const model = createModel(defaultModelConfig(arch), [size, size, 3], k, rng);
    const opt = makeOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true, weight_decay: 5e-4 });
    const half = batch / 2;
    const rand = (n: number): tf.Tensor4D => tf.tensor4d(Float32Array.from({ length: n * size * size * 3 }, () => rng.next()), [n, size, size, 3]);
    const x = rand(batch);
    const xIn = rand(half);
    const xOut = rand(half);
    const yIn = tf.tensor1d(Int32Array.from({ length: half }, () => rng.int(k)), 'int32');
    const base: LossSettings = { energyWeight: 0.1, oeWeight: 0, gradRegWeight: 0, gradRegMode: 'exact', fdStep: 1e-3, margins: { mIn: -7, mOut: -3 } };
    console.log(`${arch}: ${countParams(model).toLocaleString('en-US')} parameters, batch ${batch} at ${size}x${size}x3${micro > 1 ? ` in ${micro} micro-batches` : ''} ...`);
    // After a wasm heap failure the module is unusable: the remaining grodd figures are NaN.
    const measure = (what: string, fn: () => void): number => {
      if (heapFailed) return NaN;
      try {
        const ms = time(fn);
        console.log(`  ${what} ${ms.toFixed(0)} ms`);
        return ms;
      } catch (e) {
        if (!isWasmHeapFailure(e)) throw e;
        heapFailed = true;
        console.log(`  ${what}: does not fit the 4 GB wasm heap${micro < half ? ' (try a larger --micro)' : ''}`);
        return NaN;
      }
    };
    const fwdMs = measure('forward (batch)', () => tf.tidy(() => model.forward(x, { training: false }).logits.dataSync()));
    const plainMs = measure('plain step', () => trainStep(model, opt, 0.001, xIn, yIn, xOut, base, micro));
    const exactMs = measure('exact GReg step', () => trainStep(model, opt, 0.001, xIn, yIn, xOut, { ...base, gradRegWeight: 1 }, micro));
    const ours: Figures = { forward_ips: (batch * 1000) / fwdMs, plain_ms: plainMs, exact_ms: exactMs };
    if (!heapFailed) tf.dispose([x, xIn, xOut, yIn, ...model.params.values(), ...model.buffers.values()]);
    const side = runTorchSide<Figures & { torch: string }>('models_torch.py', [arch, threads, batch, size, warmup, reps]);
    const t = 'figures' in side ? side.figures : undefined;
    lines.push(`${arch} (batch ${batch}, ${size}x${size}x3${micro > 1 ? `, grodd steps in ${micro} micro-batches` : ''})${t ? `  [PyTorch ${t.torch}, ${threads} threads]` : `  [${'reason' in side ? side.reason : ''}]`}`);
    for (const [name, unit, ratio] of [
      ['forward_ips', 'images/s', (a: number, b: number) => b / a],
      ['plain_ms', 'ms/step', (a: number, b: number) => a / b],
      ['exact_ms', 'ms/step', (a: number, b: number) => a / b],
    ] as const) {
      const o = ours[name];
      const p = t?.[name];
      lines.push(
        `  ${name.replace('_ips', '').replace('_ms', '').padEnd(8)} grodd/${backend} ${Number.isNaN(o) ? 'out of heap'.padEnd(9 + 1 + unit.length) : `${o.toFixed(1).padStart(9)} ${unit}`}` +
          (p !== undefined ? `   PyTorch ${p.toFixed(1).padStart(9)} ${unit}${Number.isNaN(o) ? '' : `   grodd time / PyTorch time ${ratio(o, p).toFixed(2)}x`}` : ''),
      );
    }
    console.log(lines.slice(-4).join('\n'));
  }
  console.log(`\nmean of ${reps} after ${warmup} warm-up; plain = L_CE + 0.1·L_S, exact = + exact GReg (double backprop); half ID, half outliers\n${lines.join('\n')}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
