import * as tf from '@tensorflow/tfjs-core';
import { Config } from '../config/config';
import { Batch, Dataset } from '../data/dataset';
import { SubsetDataset } from '../data/subset';
import { modelOutputs } from '../eval/logits';
import { energyScore } from '../eval/scores';
import { Model } from '../models/model';
import { percentile } from '../util/percentile';
import { Rng } from '../util/rng';
import { Margins } from './energy-loss';
import { makeOptimizer } from './optimizers';
import { learningRate } from './schedule';
import { StepLosses, trainStep } from './step';

/** One row of train_log.csv. */
export interface EpochRow {
  epoch: number;
  loss: number;
  ce: number;
  energy: number;
  grad_reg: number;
  train_acc: number;
  lr: number;
  m_in: number;
  m_out: number;
  seconds: number;
}

export interface StepInfo {
  epoch: number;
  step: number;
  steps: number;
  losses: StepLosses;
  lr: number;
}

export interface TrainHooks {
  onEpochStart?(epoch: number, steps: number): void;
  onStep?(info: StepInfo): void;
  /** Called after each epoch (checkpointing, logging); awaited before the next epoch starts. */
  onEpochEnd?(row: EpochRow): Promise<void>;
  log?(message: string): void;
}

export interface TrainData {
  idTrain: Dataset;
  aux?: Dataset;
}

/** Samples used to set percentile margins: enough for stable percentiles, cheap to score. */
const MARGIN_SAMPLES = 2000;

/** Energies E = -logsumexp of (up to `limit` random samples of) a dataset, in eval mode. */
async function sampleEnergies(model: Model, ds: Dataset, limit: number, rng: Rng, batch: number): Promise<Float64Array> {
  const idx = ds.size > limit ? rng.permutation(ds.size).slice(0, limit) : Array.from({ length: ds.size }, (_, i) => i);
  const out = await modelOutputs(model, new SubsetDataset(ds.name, ds, idx, ds.numClasses), batch);
  return energyScore(out.logits, out.numClasses).map((s) => -s);
}

/**
 * The training loop: per epoch, the ID set in a seeded random order (the last
 * incomplete batch dropped, as BN needs full batches), each ID batch paired with
 * a random batch of auxiliary outliers; L = L_CE + λ_S·L_S + λ_∇S·L_∇S.
 * With percentile margins, the first `warmup_epochs` are plain cross-entropy and
 * the margins are then set from the model's energies on ID and auxiliary data.
 */
export async function train(cfg: Config, model: Model, data: TrainData, hooks: TrainHooks = {}): Promise<EpochRow[]> {
  const t = cfg.train;
  const opt = makeOptimizer(t.optimizer);
  const steps = Math.floor(data.idTrain.size / t.batch_size);
  if (steps === 0) throw new Error(`ID training set (${data.idTrain.size} samples) is smaller than one batch (${t.batch_size})`);
  const total = steps * t.epochs;
  const shuffleRng = Rng.derive(cfg.seed, 'id-shuffle');
  const auxRng = Rng.derive(cfg.seed, 'aux-batches');
  const marginRng = Rng.derive(cfg.seed, 'margins');
  const pm = t.margins;
  let margins: Margins = { mIn: pm.m_in, mOut: pm.m_out };
  const auxBatch = data.aux ? t.aux_batch_size : 0;
  const rows: EpochRow[] = [];

  for (let epoch = 1; epoch <= t.epochs; epoch++) {
    const warmup = pm.mode === 'percentile' && epoch <= pm.warmup_epochs;
    if (pm.mode === 'percentile' && epoch === pm.warmup_epochs + 1) {
      if (!data.aux) throw new Error('percentile margins need an auxiliary set (data.aux)');
      const eIn = await sampleEnergies(model, data.idTrain, MARGIN_SAMPLES, marginRng, cfg.eval.batch_size);
      const eOut = await sampleEnergies(model, data.aux, MARGIN_SAMPLES, marginRng, cfg.eval.batch_size);
      margins = { mIn: percentile(eIn, pm.id_percentile), mOut: percentile(eOut, pm.aux_percentile) };
      hooks.log?.(`margins from energies after ${pm.warmup_epochs} warm-up epoch(s): m_in = ${margins.mIn.toFixed(3)} (ID ${pm.id_percentile}th pct), m_out = ${margins.mOut.toFixed(3)} (aux ${pm.aux_percentile}th pct)`);
    }
    const settings = {
      energyWeight: warmup ? 0 : t.energy_loss.weight,
      gradRegWeight: warmup ? 0 : t.grad_reg.weight,
      gradRegMode: t.grad_reg.mode,
      fdStep: t.grad_reg.fd_step,
      margins,
    };
    const order = shuffleRng.permutation(data.idTrain.size);
    const sums = { total: 0, ce: 0, energy: 0, grad_reg: 0 };
    let correct = 0;
    let lr = t.lr;
    const started = Date.now();
    hooks.onEpochStart?.(epoch, steps);
    // Prefetch the next batches while the current step computes.
    const fetch = (s: number): Promise<[Batch, Batch | null]> =>
      Promise.all([
        data.idTrain.read(order.slice(s * t.batch_size, (s + 1) * t.batch_size)),
        data.aux && auxBatch > 0 ? data.aux.read(Array.from({ length: auxBatch }, () => auxRng.int(data.aux!.size))) : Promise.resolve(null),
      ]);
    let next = fetch(0);
    for (let s = 0; s < steps; s++) {
      const [bIn, bOut] = await next;
      if (s + 1 < steps) next = fetch(s + 1);
      lr = learningRate(t.lr, t.schedule, (epoch - 1) * steps + s, total, steps);
      const xIn = tf.tensor4d(bIn.x, [bIn.n, ...bIn.shape]);
      const yIn = tf.tensor1d(bIn.y, 'int32');
      const xOut = bOut ? tf.tensor4d(bOut.x, [bOut.n, ...bOut.shape]) : null;
      const r = trainStep(model, opt, lr, xIn, yIn, xOut, settings);
      tf.dispose([xIn, yIn, ...(xOut ? [xOut] : [])]);
      for (const k of Object.keys(sums) as (keyof StepLosses)[]) sums[k] += r.losses[k];
      correct += r.correct;
      hooks.onStep?.({ epoch, step: s + 1, steps, losses: r.losses, lr });
    }
    const row: EpochRow = {
      epoch,
      loss: sums.total / steps,
      ce: sums.ce / steps,
      energy: sums.energy / steps,
      grad_reg: sums.grad_reg / steps,
      train_acc: correct / (steps * t.batch_size),
      lr,
      m_in: margins.mIn,
      m_out: margins.mOut,
      seconds: (Date.now() - started) / 1000,
    };
    if (!Number.isFinite(row.loss)) throw new Error(`loss became ${row.loss} in epoch ${epoch}; lower the learning rate or the loss weights`);
    rows.push(row);
    await hooks.onEpochEnd?.(row);
  }
  return rows;
}
