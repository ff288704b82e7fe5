import * as tf from '@tensorflow/tfjs-core';
import { Config, microBatchesFor } from '../config/config';
import { ArrayDataset, Batch, Dataset } from '../data/dataset';
import { DataLoader } from '../data/loader';
import { SubsetDataset } from '../data/subset';
import { TransformedDataset } from '../data/transforms';
import { modelOutputs } from '../infer/outputs';
import { logSumExpRows } from '../infer/softmax';
import { Model } from '../models/model';
import { isWasmHeapFailure, largerMicroBatches } from '../engine/wasm-heap';
import { UserError } from '../util/errors';
import { percentile } from '../util/percentile';
import { Rng } from '../util/rng';
import { Margins } from './energy-loss';
import { ResolvedSampling, Selection, SelectionSettings, resolveSampling, selectOutliers } from './energy-sampling';
import { Optimizer, makeOptimizer } from './optimizers';
import { learningRate } from './schedule';
import { LossSettings, StepLosses, trainStep } from './step';

/** One row of train_log.csv. */
export interface EpochRow {
  epoch: number;
  loss: number;
  ce: number;
  energy: number;
  oe: number;
  grad_reg: number;
  train_acc: number;
  lr: number;
  /** Margins in force; null during warm-up epochs, which use none. */
  m_in: number | null;
  m_out: number | null;
  /** Energy sampling: mean energy of the picked outliers and of all candidates; null with random sampling. */
  picked_energy: number | null;
  pool_energy: number | null;
  /** Share of the epoch's wall time spent choosing outliers (candidate scoring + k-means). */
  sampling_share: number | null;
  seconds: number;
  /** Set by the CLI when eval.every_epoch is on: AUROC and FPR95 on the validation subsets (mean over OOD sets). */
  val_auroc?: number | null;
  val_fpr95?: number | null;
}

export interface StepInfo {
  epoch: number;
  step: number;
  steps: number;
  losses: StepLosses;
  lr: number;
  /** Images the step trained on (ID and outliers). */
  images: number;
  /** The loss terms with a non-zero weight in this epoch, in the order of the loss formula. */
  active: Exclude<keyof StepLosses, 'total'>[];
  /** A warm-up epoch of plain cross-entropy (percentile margins not set yet). */
  warmup: boolean;
  /** Energy sampling: mean energy of this step's picked outliers and of its candidate pool. */
  picked_energy?: number;
  pool_energy?: number;
}

/**
 * How far a stopped run got inside an epoch: with the weights and the optimizer state, enough to take
 * the epoch's remaining steps exactly as an uninterrupted run would.
 */
export interface EpochProgress {
  /** Steps of the epoch already taken, of `steps`. */
  step: number;
  steps: number;
  /** Running sums of the step losses, correct predictions and energy-sampling statistics. */
  sums: { total: number; ce: number; energy: number; oe: number; grad_reg: number };
  correct: number;
  energyStats: { picked: number; pool: number; ms: number };
  /** Wall time the epoch has taken so far. */
  seconds: number;
  /** State of the epoch's outlier-sampling Rng (k-means seeding). */
  samplerRng: number;
}

/** What a checkpoint must hold to continue training. */
export interface TrainState {
  /** Epochs completed. */
  epoch: number;
  /** Margins in force (null before percentile margins are set). */
  margins: Margins | null;
  optimizer: Optimizer;
  /** Set when training stopped inside epoch `epoch + 1`. */
  within?: EpochProgress;
}

export interface TrainHooks {
  onEpochStart?(epoch: number, steps: number): void;
  onStep?(info: StepInfo): void;
  /** Progress of scoring inside training: GReg+ candidates in a step, the energies that set percentile margins. */
  onScoring?(what: string, done: number, total: number): void;
  /** Called after each epoch (checkpointing, logging); awaited before the next epoch starts. */
  onEpochEnd?(row: EpochRow, state: TrainState): Promise<void>;
  /**
   * Checked after every step: once aborted, training stops there (finishing the step in progress) and
   * `onStop` gets the state to save; `train` then returns the epochs completed.
   */
  stop?: AbortSignal;
  onStop?(state: TrainState): Promise<void>;
  log?(message: string): void;
}

export interface TrainData {
  idTrain: Dataset;
  aux?: Dataset;
}

/** Where to continue from: the state saved after epoch `epoch` (and `within.step` steps of the next one). */
export interface ResumePoint {
  epoch: number;
  margins: Margins | null;
  /** Loaded into the optimizer and then disposed by `train`. */
  optimizerState: Map<string, tf.Tensor>;
  within?: EpochProgress;
}

/** Lets pending I/O callbacks and signal handlers run: a loop over in-memory batches otherwise never yields. */
const yieldToEventLoop = (): Promise<void> => new Promise((res) => setImmediate(res));

/** Samples used to set percentile margins: enough for stable percentiles, cheap to score. */
const MARGIN_SAMPLES = 2000;
/** Aux loader epochs reserved per ID epoch, so each ID epoch's outlier stream is fixed by the seed and the epoch alone. */
const AUX_EPOCH_STRIDE = 1000;

/** Energies E = -logsumexp of (up to `limit` random samples of) a dataset, in eval mode. */
async function sampleEnergies(model: Model, ds: Dataset, limit: number, rng: Rng, batch: number, onProgress?: (done: number, total: number) => void): Promise<Float64Array> {
  const idx = ds.size > limit ? rng.permutation(ds.size).slice(0, limit) : Array.from({ length: ds.size }, (_, i) => i);
  const out = await modelOutputs(model, new SubsetDataset(ds.name, ds, idx, ds.numClasses), batch, { onProgress });
  return logSumExpRows(out.logits, out.numClasses).map((s) => -s);
}

function setEpoch(ds: Dataset | undefined, epoch: number): void {
  if (ds instanceof TransformedDataset) ds.epoch = epoch;
}

/** Copies rows `indices` of a batch into a new batch. */
function pick(b: Batch, indices: number[]): Batch {
  const per = b.shape[0] * b.shape[1] * b.shape[2];
  const x = new Float32Array(indices.length * per);
  indices.forEach((p, i) => x.set(b.x.subarray(p * per, (p + 1) * per), i * per));
  return { x, y: Int32Array.from(indices, (p) => b.y[p]), n: indices.length, shape: b.shape };
}

/** A GReg+ pick: the picked batch, the selection, and the pool's energies and features it was made from. */
export interface OutlierPick {
  batch: Batch;
  selection: Selection;
  energies: Float32Array;
  /** Row-major [pool, featureDim]. */
  features: Float32Array;
  featureDim: number;
}

/**
 * The GReg+ pick of `batchSize` outliers from a candidate pool: the model's
 * eval-mode energies and penultimate features of the pool, then
 * {@link selectOutliers}. Scored in chunks of `evalBatch`: a 384-image pool in
 * one eval pass of a large net would hold every activation at once.
 */
export async function pickOutliers(
  model: Model,
  pool: Batch,
  settings: SelectionSettings,
  batchSize: number,
  rng: Rng,
  evalBatch: number,
  onProgress?: (done: number, total: number) => void,
): Promise<OutlierPick> {
  const out = await modelOutputs(model, new ArrayDataset('candidates', pool.shape, pool.x, pool.y, 0), evalBatch, { features: true, onProgress });
  const energies = Float32Array.from(logSumExpRows(out.logits, model.numClasses), (v) => -v);
  const selection = selectOutliers({ ...settings, energies, features: out.features!, d: out.featureDim, batchSize, rng });
  return { batch: pick(pool, selection.indices), selection, energies, features: out.features!, featureDim: out.featureDim };
}

/** One step's data: an ID batch, its auxiliary batch (a candidate pool with energy sampling; null without outliers) and the learning rate. */
export interface StepBatches {
  bIn: Batch;
  bOut: Batch | null;
  lr: number;
}

/**
 * The batches of a run in training order. Per epoch, the ID set in a seeded
 * random order (the last incomplete batch dropped, as BN needs full batches),
 * each ID batch paired with the next batch of the auxiliary stream: the next
 * shuffled outlier batch (random sampling) or candidate pool (energy sampling).
 * Each epoch's streams are fixed by the seed and the epoch alone, so that a
 * resumed run sees the batches of the uninterrupted one. Shared by the trainer
 * and by anything that must follow a run's data order (bench/fidelity).
 */
export class TrainingStream {
  /** ID batches (steps) per epoch. */
  readonly steps: number;
  /** The auxiliary set in use (absent when no loss term needs outliers). */
  readonly aux?: Dataset;
  /** Outlier batch and pool sizes (with `aux`). */
  readonly sampling?: ResolvedSampling;
  private readonly idLoader: DataLoader;
  private readonly auxLoader?: DataLoader;
  private readonly train: Config['train'];

  constructor(
    cfg: Config,
    private readonly data: TrainData,
  ) {
    const t = (this.train = cfg.train);
    this.idLoader = new DataLoader(data.idTrain, { batchSize: t.batch_size, shuffle: true, seed: cfg.seed, dropLast: true });
    this.steps = this.idLoader.length;
    if (this.steps === 0) throw new UserError(`train.batch_size (${t.batch_size}) is larger than the ID training set (${data.idTrain.size} samples)`);
    const usesAux = t.energy_loss.weight > 0 || t.grad_reg.weight > 0 || t.oe_loss.weight > 0;
    if (usesAux && !data.aux) throw new UserError(`train.method ${t.method} needs auxiliary outliers: add data.aux, or use method: ce`);
    if (!usesAux || !data.aux) return;
    this.aux = data.aux;
    this.sampling = resolveSampling(t.sampling, { idTrainSize: data.idTrain.size, idBatchSize: t.batch_size, auxSize: data.aux.size });
    this.auxLoader = new DataLoader(data.aux, { batchSize: this.sampling.poolSize ?? this.sampling.auxBatchSize, shuffle: true, seed: cfg.seed, dropLast: true });
  }

  /** Sets the sets' augmentation to epoch `epoch`'s (anything drawn from them before its steps sees the same). */
  setEpoch(epoch: number): void {
    setEpoch(this.data.idTrain, epoch);
    setEpoch(this.aux, epoch);
  }

  /** The steps of epoch `epoch` (1-based), from step `from` on (0-based: a run resumed inside the epoch). */
  async *epoch(epoch: number, from = 0): AsyncGenerator<StepBatches, void, undefined> {
    this.setEpoch(epoch);
    const auxBatches = this.auxLoader?.forever(epoch * AUX_EPOCH_STRIDE, from);
    const t = this.train;
    let step = (epoch - 1) * this.steps + from;
    try {
      for await (const bIn of this.idLoader.epoch(epoch, from)) {
        const lr = learningRate(t.lr, t.schedule, step++, this.steps * t.epochs, this.steps);
        yield { bIn, bOut: auxBatches ? (await auxBatches.next()).value : null, lr };
      }
    } finally {
      await auxBatches?.return(undefined as never); // stops its read-ahead
    }
  }
}

/**
 * The training loop over a {@link TrainingStream}: each ID batch with its
 * outliers — the stream's shuffled batch (random sampling) or the GReg+ pick
 * from its candidate pool (energy sampling) — and
 * L = L_CE + λ_S·L_S + λ_∇S·L_∇S (+ λ_OE·L_OE).
 * With percentile margins, the first `warmup_epochs` are plain cross-entropy and
 * the margins are then set from the model's energies on ID and auxiliary data.
 * Every random stream is derived from the seed and the epoch, so a run resumed
 * after epoch e (or inside it, from an `EpochProgress`) continues exactly as the
 * uninterrupted run would.
 */
export async function train(cfg: Config, model: Model, data: TrainData, hooks: TrainHooks = {}, resume?: ResumePoint): Promise<EpochRow[]> {
  const t = cfg.train;
  const opt = makeOptimizer(t.optimizer);
  if (resume) {
    opt.loadState(resume.optimizerState);
    tf.dispose([...resume.optimizerState.values()]);
  }
  const stream = new TrainingStream(cfg, data);
  const { steps, aux, sampling } = stream;
  const micro = microBatchesFor(t, tf.getBackend());
  if (sampling && sampling.auxBatchSize % micro !== 0) {
    throw new UserError(`train.micro_batches (${micro} on ${tf.getBackend()}) must divide the outlier batch size (${sampling.auxBatchSize}); change one of them (train.sampling.aux_batch_size sets the latter)`);
  }
  const energySampling = t.sampling.method === 'energy' ? t.sampling : undefined;
  if (resume?.within && resume.within.steps !== steps) {
    throw new UserError(`the run stopped at step ${resume.within.step} of ${resume.within.steps} of epoch ${resume.epoch + 1}, but its ID training set now gives ${steps} steps per epoch; a resumed run needs the data it started with`);
  }
  const pm = t.margins;
  const percentileMargins = pm.mode === 'percentile' && aux !== undefined;
  let margins: Margins | null = resume ? resume.margins : percentileMargins ? null : { mIn: pm.m_in, mOut: pm.m_out };
  const rows: EpochRow[] = [];

  // The optimizer state is this call's: freed on the way out, however training ends.
  try {
    for (let epoch = (resume?.epoch ?? 0) + 1; epoch <= t.epochs; epoch++) {
      const within = epoch === (resume?.epoch ?? 0) + 1 ? resume?.within : undefined;
      stream.setEpoch(epoch); // before the margins: their energies see this epoch's augmentation, as its batches do
      if (percentileMargins && margins === null && epoch > pm.warmup_epochs) {
        const rng = Rng.derive(cfg.seed, `margins:${epoch}`);
        const eIn = await sampleEnergies(model, data.idTrain, MARGIN_SAMPLES, rng, cfg.eval.batch_size, (d, n) => hooks.onScoring?.('margins: ID energies', d, n));
        const eOut = await sampleEnergies(model, aux!, MARGIN_SAMPLES, rng, cfg.eval.batch_size, (d, n) => hooks.onScoring?.('margins: aux energies', d, n));
        margins = { mIn: percentile(eIn, pm.id_percentile), mOut: percentile(eOut, pm.aux_percentile) };
        hooks.log?.(`margins from energies after ${epoch - 1} warm-up epoch(s): m_in = ${margins.mIn.toFixed(3)} (ID ${pm.id_percentile}th pct), m_out = ${margins.mOut.toFixed(3)} (aux ${pm.aux_percentile}th pct)`);
      }
      const warmup = margins === null;
      const settings: LossSettings = {
        energyWeight: warmup ? 0 : t.energy_loss.weight,
        gradRegWeight: warmup ? 0 : t.grad_reg.weight,
        oeWeight: t.oe_loss.weight,
        gradRegMode: t.grad_reg.mode,
        fdStep: t.grad_reg.fd_step,
        margins: margins ?? { mIn: pm.m_in, mOut: pm.m_out },
      };
      const samplerRng = Rng.derive(cfg.seed, `sampler:${epoch}`);
      if (within) samplerRng.setState(within.samplerRng);
      const sums = within ? { ...within.sums } : { total: 0, ce: 0, energy: 0, oe: 0, grad_reg: 0 };
      const energyStats = within ? { ...within.energyStats } : { picked: 0, pool: 0, ms: 0 };
      const active = (['ce', 'energy', 'grad_reg', 'oe'] as const).filter((k) => ({ ce: 1, energy: settings.energyWeight, grad_reg: settings.gradRegWeight, oe: settings.oeWeight })[k] > 0);
      let correct = within?.correct ?? 0;
      let lr = t.lr;
      const started = performance.now() - (within?.seconds ?? 0) * 1000;
      let s = within?.step ?? 0;
      hooks.onEpochStart?.(epoch, steps);
      for await (const batches of stream.epoch(epoch, s)) {
        const bIn = batches.bIn;
        let bOut = batches.bOut;
        lr = batches.lr;
        let stepEnergies: { picked_energy: number; pool_energy: number } | undefined;
        if (bOut && energySampling) {
          const t0 = performance.now();
          const p = await pickOutliers(model, bOut, { ...energySampling, ept: sampling!.ept }, sampling!.auxBatchSize, samplerRng, cfg.eval.batch_size, (d, n) =>
            hooks.onScoring?.('scoring candidates', d, n),
          );
          bOut = p.batch;
          stepEnergies = { picked_energy: p.selection.meanEnergy, pool_energy: p.energies.reduce((a, b) => a + b, 0) / p.energies.length };
          energyStats.picked += stepEnergies.picked_energy;
          energyStats.pool += stepEnergies.pool_energy;
          energyStats.ms += performance.now() - t0;
        }
        const xIn = tf.tensor4d(bIn.x, [bIn.n, ...bIn.shape]);
        const yIn = tf.tensor1d(bIn.y, 'int32');
        const xOut = bOut ? tf.tensor4d(bOut.x, [bOut.n, ...bOut.shape]) : null;
        let r: ReturnType<typeof trainStep>;
        try {
          r = trainStep(model, opt, lr, xIn, yIn, xOut, settings, micro);
        } catch (e) {
          if (!isWasmHeapFailure(e)) throw e;
          const more = largerMicroBatches(bIn.n, bOut?.n ?? 0, micro);
          const fix = more !== null ? `set train.micro_batches (or its wasm: entry) to ${more} (or more), or lower train.batch_size` : 'lower train.batch_size';
          throw new UserError(`the wasm backend ran out of its 4 GB heap at epoch ${epoch}, step ${s + 1} (${bIn.n} ID + ${bOut?.n ?? 0} outlier images in ${micro} micro-batch(es)): ${fix}; the native backend has no such limit`, 1);
        }
        tf.dispose([xIn, yIn, ...(xOut ? [xOut] : [])]);
        if (!Number.isFinite(r.losses.total)) {
          throw new UserError(`loss became ${r.losses.total} at epoch ${epoch}, step ${s + 1} (ce ${r.losses.ce}, L_S ${r.losses.energy}, L_gradS ${r.losses.grad_reg}); lower train.lr or the loss weights`, 1);
        }
        for (const k of Object.keys(sums) as (keyof StepLosses)[]) sums[k] += r.losses[k];
        correct += r.correct;
        hooks.onStep?.({ epoch, step: ++s, steps, losses: r.losses, lr, images: bIn.n + (bOut?.n ?? 0), active, warmup, ...stepEnergies });
        await yieldToEventLoop();
        if (hooks.stop?.aborted && s < steps) {
          const progress: EpochProgress = { step: s, steps, sums, correct, energyStats, seconds: (performance.now() - started) / 1000, samplerRng: samplerRng.getState() };
          await hooks.onStop?.({ epoch: epoch - 1, margins, optimizer: opt, within: progress });
          return rows;
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const row: EpochRow = {
        epoch,
        loss: sums.total / steps,
        ce: sums.ce / steps,
        energy: sums.energy / steps,
        oe: sums.oe / steps,
        grad_reg: sums.grad_reg / steps,
        train_acc: correct / (steps * t.batch_size),
        lr,
        m_in: warmup ? null : settings.margins.mIn,
        m_out: warmup ? null : settings.margins.mOut,
        picked_energy: energySampling ? energyStats.picked / steps : null,
        pool_energy: energySampling ? energyStats.pool / steps : null,
        sampling_share: energySampling ? energyStats.ms / 1000 / seconds : null,
        seconds,
      };
      rows.push(row);
      await hooks.onEpochEnd?.(row, { epoch, margins, optimizer: opt });
      if (hooks.stop?.aborted && epoch < t.epochs) {
        await hooks.onStop?.({ epoch, margins, optimizer: opt });
        return rows;
      }
    }
  } finally {
    opt.dispose();
  }
  return rows;
}
