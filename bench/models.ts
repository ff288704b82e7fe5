/**
 * npm run bench:models — the paper's architectures on the backend in use:
 * forward images/s (eval mode), plain training step ms (L_CE + λ_S·L_S), exact
 * GReg step ms (double backprop) and its finite-difference form, at batch 64 on
 * 32x32x3 (half ID, half outliers; DenseNet-121 at 224x224x3, batch 8); and,
 * where Debian's PyTorch is importable (/usr/bin/python3), the same in PyTorch
 * (bench/models_torch.py) as installed and with grodd's runtime settings (see
 * torch-side.ts), with the ratios grodd / PyTorch, and each side's peak RSS.
 * Usage: npm run bench:models -- [--arch resnet18,wrn-40-2|all] [--reps 3] [--warmup 1] [--backend native] [--threads 2]
 *          [--batch 64 | --id 64 --aux 128] [--micro 1]
 * --micro c runs grodd's training steps in c micro-batches (train.micro_batches), for
 * batches whose double-backprop step does not fit the 4 GB wasm heap; PyTorch always runs the whole batch.
 * grodd's peak RSS is the process's so far: run one --arch per call for a figure of its own.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelArch } from '../src/config/config';
import { BackendChoice, initBackend } from '../src/engine/backend';
import { nativeAddon } from '../src/engine/native/aten';
import { isWasmHeapFailure } from '../src/engine/wasm-heap';
import { countParams } from '../src/models/model';
import { createModel, defaultModelConfig } from '../src/models/registry';
import { makeOptimizer } from '../src/train/optimizers';
import { LossSettings, trainStep } from '../src/train/step';
import { Rng } from '../src/util/rng';
import { arg } from './args';
import { GRODD_RUNTIME, runTorchSide } from './torch-side';

const ALL: ModelArch[] = ['resnet18', 'wrn-40-2', 'densenet-bc-100', 'densenet121'];
const archs = (arg('arch', 'resnet18,wrn-40-2') === 'all' ? ALL : arg('arch', 'resnet18,wrn-40-2').split(',')) as ModelArch[];
const reps = Number(arg('reps', '3'));
const warmup = Number(arg('warmup', '1'));
const threads = Number(arg('threads', '2'));
const micro = Number(arg('micro', '1'));

const FIGURES = [
  ['forward_ips', 'images/s'],
  ['plain_ms', 'ms/step'],
  ['exact_ms', 'ms/step'],
  ['fd_ms', 'ms/step'],
] as const;
type Figures = Record<(typeof FIGURES)[number][0], number>;

function time(fn: () => void): number {
  for (let i = 0; i < warmup; i++) fn();
  const t = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t) / reps;
}

let heapFailed = false;

const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024;

async function main(): Promise<void> {
  const backend = await initBackend(arg('backend', 'auto') as BackendChoice, (m) => console.log(m), { threads, wasmThreads: threads });
  const lines: string[] = [];
  for (const arch of archs) {
    if (!ALL.includes(arch)) throw new Error(`unknown --arch ${arch} (expected ${ALL.join(', ')} or all)`);
    const big = arch === 'densenet121';
    const batch = Number(arg('batch', big ? '8' : '64'));
    const nIn = Number(arg('id', String(batch / 2)));
    const nOut = Number(arg('aux', String(batch - nIn)));
    const size = big ? 224 : 32;
    const k = big ? 1000 : 10;
    const rng = new Rng(0);
    const model = createModel(defaultModelConfig(arch), [size, size, 3], k, rng);
    const opt = makeOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true, weight_decay: 5e-4 });
    const rand = (n: number): tf.Tensor4D => tf.tensor4d(Float32Array.from({ length: n * size * size * 3 }, () => rng.next()), [n, size, size, 3]);
    const x = rand(nIn + nOut);
    const xIn = rand(nIn);
    const xOut = rand(nOut);
    const yIn = tf.tensor1d(Int32Array.from({ length: nIn }, () => rng.int(k)), 'int32');
    const base: LossSettings = { energyWeight: 0.1, oeWeight: 0, gradRegWeight: 0, gradRegMode: 'exact', fdStep: 1e-3, margins: { mIn: -7, mOut: -3 } };
    const shape = `${nIn} ID + ${nOut} outliers at ${size}x${size}x3${micro > 1 ? `, grodd in ${micro} micro-batches` : ''}`;
    console.log(`${arch}: ${countParams(model).toLocaleString('en-US')} parameters, ${shape} ...`);
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
        console.log(`  ${what}: does not fit the 4 GB wasm heap (try a larger --micro)`);
        return NaN;
      }
    };
    const fwdMs = measure('forward (batch)', () => tf.tidy(() => model.forward(x, { training: false }).logits.dataSync()));
    const ours: Figures = {
      forward_ips: ((nIn + nOut) * 1000) / fwdMs,
      plain_ms: measure('plain step', () => trainStep(model, opt, 0.001, xIn, yIn, xOut, base, micro)),
      exact_ms: measure('exact GReg step', () => trainStep(model, opt, 0.001, xIn, yIn, xOut, { ...base, gradRegWeight: 1 }, micro)),
      fd_ms: measure('finite-difference GReg step', () => trainStep(model, opt, 0.001, xIn, yIn, xOut, { ...base, gradRegWeight: 1, gradRegMode: 'finite-difference' }, micro)),
    };
    const rss = peakRssMb();
    if (!heapFailed) tf.dispose([x, xIn, xOut, yIn, ...model.params.values(), ...model.buffers.values()]);
    // The PyTorch sides run while this process lives: hand its memory back first (a DenseNet-BC-100 step at 64 + 64 holds ~15 GB).
    if (backend === 'native') nativeAddon().emptyCache();
    const args = [arch, threads, nIn, nOut, size, warmup, reps];
    const sides = [runTorchSide<Figures & { torch: string; peak_rss_mb: number }>('models_torch.py', args), runTorchSide<Figures & { torch: string; peak_rss_mb: number }>('models_torch.py', args, GRODD_RUNTIME)];
    const [asIs, tuned] = sides.map((s) => ('figures' in s ? s.figures : undefined));
    const why = sides.map((s) => ('reason' in s ? s.reason : '')).find((r) => r);
    lines.push(`${arch} (${shape}), ${threads} threads${asIs ? `, PyTorch ${asIs.torch}` : ''}${why ? `  [${why}]` : ''}`);
    lines.push(`  ${''.padEnd(8)} ${`grodd/${backend}`.padStart(20)}${asIs ? `${'PyTorch'.padStart(20)}   ratio${"PyTorch, grodd's runtime".padStart(26)}   ratio` : ''}`);
    for (const [name, unit] of FIGURES) {
      const o = ours[name];
      // Time ratios: grodd / PyTorch (for forward, the inverse of the throughputs).
      const ratio = (p: number) => (name === 'forward_ips' ? p / o : o / p).toFixed(2);
      const cell = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(1).padStart(11)} ${unit.padEnd(8)}`);
      const oursCell = Number.isNaN(o) ? 'out of heap'.padStart(20) : cell(o);
      lines.push(
        `  ${name.replace('_ips', '').replace('_ms', '').padEnd(8)} ${oursCell}` +
          (asIs ? `${cell(asIs[name])}${Number.isNaN(o) ? '' : `   ${ratio(asIs[name])}x`}` : '') +
          (tuned ? `   ${cell(tuned[name])}${Number.isNaN(o) ? '' : `   ${ratio(tuned[name])}x`}` : ''),
      );
    }
    lines.push(`  peak RSS grodd ${rss.toFixed(0)} MB${asIs ? `, PyTorch ${asIs.peak_rss_mb.toFixed(0)} MB` : ''}${tuned ? ` (with grodd's runtime ${tuned.peak_rss_mb.toFixed(0)} MB)` : ''}`);
    console.log(lines.slice(-7).join('\n'));
  }
  console.log(`\nmean of ${reps} after ${warmup} warm-up; plain = L_CE + 0.1·L_S, exact = + exact GReg (double backprop), fd = + its finite-difference form\n${lines.join('\n')}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
