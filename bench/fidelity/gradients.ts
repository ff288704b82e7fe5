/**
 * npm run bench:fidelity — one training step of each loss, on grodd and on PyTorch, against float64.
 *
 * For each architecture: grodd's seeded initial weights go to PyTorch, which gives them warmed-up BN
 * running statistics and perturbed BN affine weights and draws the batch (bench/fidelity/gradients_torch.py
 * prepare); grodd's GReg+ code picks the outliers from the candidate pool (pickOutliers); PyTorch then
 * shifts BN biases until no ReLU input of the step's float64 passes lies within 1e-4 sd of zero (a
 * float32 rounding there would flip the ReLU and change the gradient by far more than rounding) and
 * puts the energy margins in the widest gaps of the energies (margins). On every backend grodd runs
 * its own training step (`trainStep`, capturing the gradients instead of updating) for each loss:
 *   ce, oe, energy, greg (exact), greg-fd (finite difference) on [ID, the pool's first n_out],
 *   greg+ and greg+-fd on [ID, grodd's pick], plus the eval-mode scoring of the pool that GReg+ picks from;
 * and PyTorch computes the same in float32 and float64 (compare). Printed per loss and side: the
 * relative loss error, the per-tensor normwise gradient error ‖g − g64‖ / ‖g64‖ (largest, with its
 * tensor, and median over tensors), and the BN running-statistics error after the step; for the pool,
 * the energies' and features' normwise errors and whether grodd's pick equals the pick from the
 * float64 scores. --per-tensor prints every tensor's gradient error.
 *
 * Usage: npm run bench:fidelity -- [--arch small-cnn,resnet18,wrn-40-2,densenet-bc-100] [--backends cpu,wasm,native]
 *          [--size 16] [--n-in 8] [--n-out 8] [--pool 16] [--seed 0] [--per-tensor] [--keep DIR]
 * (--size: the CIFAR nets' input side; small-cnn takes 28x28x1. Backends that do not load are skipped with the reason.
 * --keep DIR keeps each architecture's files in DIR/<arch>, and a rerun with the same settings reuses its weights and batch.)
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { formatTable } from '../../src/cli/table';
import { ModelArch } from '../../src/config/config';
import { Batch } from '../../src/data/dataset';
import { useBackend } from '../../src/engine/backend';
import { readSafetensors, Tensor, WritableTensor, writeSafetensors } from '../../src/io/safetensors';
import { exportTorchWeights, loadTorchStateDict, toTorchLayout } from '../../src/io/torch-weights';
import { Model } from '../../src/models/model';
import { createModel, defaultModelConfig } from '../../src/models/registry';
import { selectOutliers, SelectionSettings } from '../../src/train/energy-sampling';
import { Optimizer } from '../../src/train/optimizers';
import { LossSettings, trainStep } from '../../src/train/step';
import { pickOutliers } from '../../src/train/trainer';
import { Rng } from '../../src/util/rng';
import { arg } from '../args';

const ARCHS: ModelArch[] = ['small-cnn', 'resnet18', 'wrn-40-2', 'densenet-bc-100'];
const archs = arg('arch', ARCHS.join(',')).split(',') as ModelArch[];
type Backend = 'cpu' | 'wasm' | 'native';
const backends = arg('backends', 'cpu,wasm,native').split(',') as Backend[];
const size = Number(arg('size', '16'));
const nIn = Number(arg('n-in', '8'));
const nOut = Number(arg('n-out', '8'));
const poolSize = Number(arg('pool', '16'));
const seed = Number(arg('seed', '0'));
const perTensor = process.argv.includes('--per-tensor');
const FD_STEP = 1e-3;
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

interface LossSpec {
  name: string;
  /** `random`: the pool's first n_out candidates; `picked`: grodd's GReg+ pick. */
  batch: 'random' | 'picked';
  settings: { energy_weight: number; oe_weight: number; grad_reg_weight: number; mode: 'exact' | 'finite-difference'; fd_step: number };
}

const term = (energy: number, oe: number, reg: number, mode: 'exact' | 'finite-difference' = 'exact') => ({ energy_weight: energy, oe_weight: oe, grad_reg_weight: reg, mode, fd_step: FD_STEP });
const LOSSES: LossSpec[] = [
  { name: 'ce', batch: 'random', settings: term(0, 0, 0) },
  { name: 'oe', batch: 'random', settings: term(0, 0.5, 0) },
  { name: 'energy', batch: 'random', settings: term(0.1, 0, 0) },
  { name: 'greg', batch: 'random', settings: term(0.1, 0, 1) },
  { name: 'greg-fd', batch: 'random', settings: term(0.1, 0, 1, 'finite-difference') },
  { name: 'greg+', batch: 'picked', settings: term(0.1, 0, 1) },
  { name: 'greg+-fd', batch: 'picked', settings: term(0.1, 0, 1, 'finite-difference') },
];

/** Takes the gradients trainStep hands to the optimizer instead of applying them. */
class GradientRecorder implements Optimizer {
  grads: Record<string, Float32Array> = {};
  step(_params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>): void {
    for (const [name, g] of Object.entries(grads)) this.grads[name] = toTorchLayout(g.dataSync() as Float32Array, g.shape);
  }
  state(): Map<string, tf.Tensor> {
    return new Map();
  }
  loadState(): void {}
  dispose(): void {}
}

function python(step: string, dir: string): string {
  return execFileSync(PYTHON, [path.join(__dirname, 'gradients_torch.py'), step, dir], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] });
}

async function loadWeights(model: Model, file: string): Promise<void> {
  loadTorchStateDict(model, (await readSafetensors(file)).tensors, { source: file });
}

function batchOf(x: Float32Array, n: number, shape: [number, number, number]): Batch {
  return { x, y: new Int32Array(n).fill(-1), n, shape };
}

const sel = (n: number): SelectionSettings => ({ clusters: Math.max(1, n / 2), spt: 0, twoWay: true, normalize: 'per-sample', nInit: 3 });

interface Compared {
  tensors: string[];
  margins: { m_in: number; m_out: number; bias_shifts: number; min_relu_distance_sd: number };
  losses: Record<string, { loss64: number; torch32: Errors & { relu_flips: number }; grodd: Record<string, Errors> }>;
  scoring: Record<string, { energy_err: number; feature_err: number }>;
}
interface Errors {
  loss_err: number;
  grad_err: number[];
  bn_err: number;
}

const e = (v: number): string => (v === 0 ? '0' : v.toExponential(1));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * The step's weights, batch and pick in `dir`: PyTorch prepares weights and batch, grodd's GReg+
 * code picks the outliers, PyTorch keeps the ReLU inputs off zero and sets the margins.
 */
async function prepare(dir: string, build: () => Model, backend: Backend): Promise<Record<string, Tensor>> {
  await useBackend(backend, { wasmThreads: 1 });
  const init = build();
  await exportTorchWeights(init, path.join(dir, 'init.safetensors'));
  python('prepare', dir);
  await loadWeights(init, path.join(dir, 'w1.safetensors'));
  const batch = (await readSafetensors(path.join(dir, 'batch.safetensors'))).tensors;
  const pool = batchOf(batch.pool.data as Float32Array, poolSize, init.inputShape);
  const picked = await pickOutliers(init, pool, sel(nOut), nOut, new Rng(seed), 64);
  await writeSafetensors(path.join(dir, 'picks.safetensors'), { picks: { dtype: 'I32', shape: [nOut], data: Int32Array.from(picked.selection.indices) } });
  tf.dispose([...init.params.values(), ...init.buffers.values()]);
  python('margins', dir);
  return batch;
}

async function benchArch(arch: ModelArch, ran: Backend[]): Promise<string> {
  const dir = arg('keep', '') ? path.join(arg('keep', ''), arch) : fs.mkdtempSync(path.join(os.tmpdir(), `grodd-fidelity-${arch}-`));
  fs.mkdirSync(dir, { recursive: true });
  const shape: [number, number, number] = arch === 'small-cnn' ? [28, 28, 1] : [size, size, 3];
  const classes = arch === 'small-cnn' ? 6 : 10;
  const spec = { arch, num_classes: classes, input_shape: shape, n_in: nIn, n_out: nOut, pool: poolSize, seed, fd_step: FD_STEP, backends: ran, losses: LOSSES };
  const specFile = path.join(dir, 'spec.json');
  // A kept directory prepared for the same spec is reused: the weights, batch and pick are deterministic but slow to make.
  const sameStep = (file: string) => JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), backends: ran }) === JSON.stringify(spec);
  const reuse = fs.existsSync(path.join(dir, 'margins.json')) && fs.existsSync(specFile) && sameStep(specFile);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const build = () => createModel(defaultModelConfig(arch), shape, classes, new Rng(seed));
  const batch = reuse ? (await readSafetensors(path.join(dir, 'batch.safetensors'))).tensors : await prepare(dir, build, ran[0]);
  const pool = batchOf(batch.pool.data as Float32Array, poolSize, shape);
  const picks = Array.from((await readSafetensors(path.join(dir, 'picks.safetensors'))).tensors.picks.data as Int32Array);
  const margins = JSON.parse(fs.readFileSync(path.join(dir, 'margins.json'), 'utf8')) as Compared['margins'];
  const scoring64 = (await readSafetensors(path.join(dir, 'scoring64.safetensors'))).tensors;
  const per = shape[0] * shape[1] * shape[2];
  const poolX = batch.pool.data as Float32Array;
  const outliers = {
    random: poolX.slice(0, nOut * per),
    picked: Float32Array.from(picks.flatMap((i) => Array.from(poolX.subarray(i * per, (i + 1) * per)))),
  };
  const picksAgree: Record<string, boolean> = {};
  for (const backend of ran) {
    await useBackend(backend, { wasmThreads: 1 });
    const model = build();
    const out: Record<string, WritableTensor> = {};
    const xIn = tf.tensor4d(batch.x_in.data as Float32Array, [nIn, ...shape]);
    const yIn = tf.tensor1d(batch.y_in.data as Int32Array, 'int32');
    for (const loss of LOSSES) {
      await loadWeights(model, path.join(dir, 'w2.safetensors'));
      const xOut = tf.tensor4d(outliers[loss.batch], [nOut, ...shape]);
      const s = loss.settings;
      const settings: LossSettings = { energyWeight: s.energy_weight, oeWeight: s.oe_weight, gradRegWeight: s.grad_reg_weight, gradRegMode: s.mode, fdStep: s.fd_step, margins: { mIn: margins.m_in, mOut: margins.m_out } };
      const rec = new GradientRecorder();
      const r = trainStep(model, rec, 0, xIn, yIn, xOut, settings);
      xOut.dispose();
      out[`${loss.name}/loss`] = { dtype: 'F64', shape: [1], data: Float64Array.of(r.losses.total) };
      for (const [name, g] of Object.entries(rec.grads)) out[`${loss.name}/grad/${name}`] = { dtype: 'F32', shape: [g.length], data: g };
      for (const [name, v] of model.buffers) out[`${loss.name}/bn/${name}`] = { dtype: 'F32', shape: v.shape, data: v.dataSync() as Float32Array };
    }
    await loadWeights(model, path.join(dir, 'w2.safetensors'));
    const mine = await pickOutliers(model, pool, sel(nOut), nOut, new Rng(seed), 64);
    const reference = selectOutliers({ ...sel(nOut), energies: scoring64.energies.data as Float32Array, features: scoring64.features.data as Float32Array, d: mine.featureDim, batchSize: nOut, rng: new Rng(seed) });
    picksAgree[backend] = mine.selection.indices.join() === reference.indices.join();
    out['scoring/energies'] = { dtype: 'F32', shape: [poolSize], data: mine.energies };
    out['scoring/features'] = { dtype: 'F32', shape: [poolSize, mine.featureDim], data: mine.features };
    await writeSafetensors(path.join(dir, `grodd-${backend}.safetensors`), out);
    tf.dispose([xIn, yIn, ...model.params.values(), ...model.buffers.values()]);
  }
  const c = JSON.parse(python('compare', dir).trim().split('\n').at(-1)!) as Compared;
  if (!arg('keep', '')) fs.rmSync(dir, { recursive: true, force: true });
  return report(arch, shape, c, ran, picksAgree);
}

function report(arch: string, shape: number[], c: Compared, ran: string[], picksAgree: Record<string, boolean>): string {
  const lines = [
    `${arch}: ${shape.join('x')} inputs, ${nIn} ID + ${nOut} outliers (GReg+ from a pool of ${poolSize}), margins m_in ${c.margins.m_in.toFixed(4)} / m_out ${c.margins.m_out.toFixed(4)}; ` +
      `ReLU inputs >= ${c.margins.min_relu_distance_sd.toExponential(1)} sd from zero after ${c.margins.bias_shifts} BN bias shift(s)`,
  ];
  const rows: (string | number)[][] = [];
  for (const loss of LOSSES) {
    const l = c.losses[loss.name];
    const sides: [string, Errors][] = [[`PyTorch f32 (${l.torch32.relu_flips} ReLU flips)`, l.torch32], ...ran.map((b): [string, Errors] => [`grodd ${b}`, l.grodd[b]])];
    for (const [k, [side, err]] of sides.entries()) {
      const worst = err.grad_err.indexOf(Math.max(...err.grad_err));
      rows.push([k === 0 ? loss.name : '', side, e(err.loss_err), `${e(err.grad_err[worst])} ${c.tensors[worst]}`, e(median(err.grad_err)), e(err.bn_err)]);
    }
  }
  lines.push(formatTable(['loss', 'side', 'loss err', 'grad err, largest (tensor)', 'grad err, median', 'BN stats err'], rows, ['loss err', 'grad err, median', 'BN stats err']));
  const scoring = [['PyTorch f32', c.scoring.torch32, ''] as const, ...ran.map((b) => [`grodd ${b}`, c.scoring[b], picksAgree[b] ? 'yes' : 'no'] as const)];
  lines.push(formatTable(['GReg+ pool scoring', 'energies err', 'features err', 'pick as from float64 scores'], scoring.map(([side, s, agree]) => [side, e(s.energy_err), e(s.feature_err), agree]), ['energies err', 'features err']));
  if (perTensor) {
    for (const loss of LOSSES) {
      const l = c.losses[loss.name];
      lines.push(`${loss.name}: per-tensor gradient error`);
      lines.push(formatTable(['tensor', 'PyTorch f32', ...ran.map((b) => `grodd ${b}`)], c.tensors.map((t, i) => [t, e(l.torch32.grad_err[i]), ...ran.map((b) => e(l.grodd[b].grad_err[i]))]), ['PyTorch f32', ...ran.map((b) => `grodd ${b}`)]));
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const ran: Backend[] = [];
  for (const b of backends) {
    try {
      await useBackend(b, { wasmThreads: 1 });
      ran.push(b);
    } catch (err) {
      console.log(`backend ${b} skipped: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  for (const arch of archs) {
    if (!ARCHS.includes(arch)) throw new Error(`unknown --arch ${arch} (expected ${ARCHS.join(', ')})`);
    console.log(`${await benchArch(arch, ran)}\n`);
  }
  console.log(`normwise errors against float64: loss |L - L64| / |L64|, gradients ||g - g64|| / ||g64|| per tensor, BN running statistics after the step (largest over buffers)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
