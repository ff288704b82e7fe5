import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config } from '../config/config';
import { Dataset } from '../data/dataset';
import { OpenedData } from '../data/section';
import { SubsetDataset } from '../data/subset';
import { AVERAGE, evaluateModel } from '../eval/evaluate';
import { writeError } from '../io/atomic-write';
import { formatCsv, readCsv, writeCsv } from '../io/csv';
import { EventWriter } from '../io/tfevents';
import { Model } from '../models/model';
import { EpochRow, StepInfo } from '../train/trainer';
import { Rng } from '../util/rng';
import { TERM_LABELS } from './progress';

/**
 * The logs of a training run that people already read: one row per step in `train_steps.csv` (loss
 * terms, learning rate, GReg+ energies, step time), and the same scalars plus the per-epoch ones in a
 * TensorBoard event file in the run directory (`tensorboard --logdir runs/`). Rows are written as
 * they happen, so a killed run keeps them; a resumed run first drops those after its checkpoint.
 */

/** Runs a log write; a full disk or an unwritable run directory becomes a one-line error naming the file. */
function logWrite<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw writeError(file, e);
  }
}

export const STEP_COLUMNS = ['epoch', 'step', 'global_step', 'loss', 'ce', 'energy', 'oe', 'grad_reg', 'lr', 'picked_energy', 'pool_energy', 'step_seconds'] as const;

export class TrainLogs {
  private fd = -1;
  private events?: EventWriter;
  private lastStep = performance.now();
  private steps = 0;

  /**
   * `resumedAfter`: the epoch of the checkpoint a resumed run continues from, and `resumedStep` the steps
   * of the next epoch it holds too (a checkpoint saved inside an epoch by an interrupt).
   */
  static async open(dir: string, resumedAfter?: number, resumedStep = 0): Promise<TrainLogs> {
    const csv = path.join(dir, 'train_steps.csv');
    if (resumedAfter !== undefined && fs.existsSync(csv)) {
      const kept = (r: Record<string, string>): boolean => Number(r.epoch) <= resumedAfter || (Number(r.epoch) === resumedAfter + 1 && Number(r.step) <= resumedStep);
      const rows = (await readCsv(csv)).rows.filter(kept);
      await writeCsv(csv, rows, STEP_COLUMNS);
    }
    return new TrainLogs(dir, csv, resumedAfter, resumedStep);
  }

  private constructor(
    private readonly dir: string,
    private readonly csv: string,
    private readonly resumedAfter?: number,
    private readonly resumedStep = 0,
  ) {
    const fresh = !fs.existsSync(csv);
    this.fd = logWrite(csv, () => fs.openSync(csv, 'a'));
    if (fresh) logWrite(csv, () => fs.writeSync(this.fd, formatCsv([], STEP_COLUMNS, csv)));
  }

  /** The event file is opened with the first epoch, when the steps per epoch (and so a resumed run's last kept step) are known. */
  epochStart(epoch: number, steps: number): void {
    this.events ??= logWrite(this.dir, () => new EventWriter(this.dir, this.resumedAfter === undefined ? undefined : (epoch - 1) * steps + this.resumedStep));
    this.steps = steps;
    this.lastStep = performance.now();
  }

  step(i: StepInfo): void {
    const now = performance.now();
    const globalStep = (i.epoch - 1) * i.steps + i.step;
    const row = {
      epoch: i.epoch, step: i.step, global_step: globalStep, loss: i.losses.total, ce: i.losses.ce, energy: i.losses.energy, oe: i.losses.oe, grad_reg: i.losses.grad_reg,
      lr: i.lr, picked_energy: i.picked_energy, pool_energy: i.pool_energy, step_seconds: (now - this.lastStep) / 1000,
    };
    this.lastStep = now;
    logWrite(this.csv, () => fs.writeSync(this.fd, formatCsv([row], STEP_COLUMNS, this.csv, false)));
    const terms = Object.fromEntries(i.active.map((k) => [`train/${TERM_LABELS[k]}`, i.losses[k]]));
    this.eventWrite(() => this.events?.scalars(globalStep, {
      'train/loss': i.losses.total, ...terms, 'train/lr': i.lr, 'train/step_seconds': row.step_seconds,
      'sampling/picked_energy': i.picked_energy, 'sampling/pool_energy': i.pool_energy,
    }));
  }

  /** The epoch's row of train_log.csv (and the validation metrics per set), at the epoch's last step. */
  epoch(r: EpochRow, validation: Record<string, number> = {}): void {
    this.eventWrite(() => this.events?.scalars(r.epoch * this.steps, {
      'epoch/loss': r.loss, 'epoch/train_acc': r.train_acc, 'epoch/m_in': r.m_in, 'epoch/m_out': r.m_out, 'epoch/seconds': r.seconds, 'epoch/sampling_share': r.sampling_share, ...validation,
    }));
    logWrite(this.csv, () => fs.fsyncSync(this.fd));
    this.eventWrite(() => this.events?.sync());
  }

  private eventWrite(fn: () => void): void {
    logWrite(this.events?.file ?? this.dir, fn);
  }

  close(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.events?.close();
    this.fd = -1;
  }
}

/**
 * eval.every_epoch: after each epoch, the first score's AUROC and FPR95 on fixed seeded subsets of the
 * ID test set and each OOD set (subsets of the test sets, for watching training; not for choosing a
 * model). Sets `val_auroc` / `val_fpr95` (means over the OOD sets) on the row; returns per-set values.
 */
export class EpochValidation {
  private constructor(
    private readonly idTrain: Dataset,
    private readonly id: Dataset,
    private readonly ood: Dataset[],
    private readonly cfg: Config,
  ) {}

  static of(cfg: Config, data: OpenedData): EpochValidation | undefined {
    const e = cfg.eval.every_epoch;
    if (!e || data.ood.length === 0) return undefined;
    const rng = Rng.derive(cfg.seed, 'every_epoch');
    const subset = (ds: Dataset): Dataset => {
      if (ds.size <= e.limit) return ds;
      const idx = rng.permutation(ds.size).slice(0, e.limit).sort((a, b) => a - b);
      return new SubsetDataset(ds.name, ds, idx, ds.numClasses);
    };
    return new EpochValidation(data.idTrain, subset(data.idTest), data.ood.map(subset), cfg);
  }

  async run(model: Model, row: EpochRow): Promise<Record<string, number>> {
    const score = this.cfg.eval.scores[0];
    // the first score alone: no attack, no gradient statistics (a detector with statistics refits them on the ID training set)
    const ev = await evaluateModel(
      model,
      { idTrain: this.idTrain, idTest: this.id, ood: this.ood.map((dataset) => ({ dataset })) },
      { ...this.cfg.eval, scores: [score], robust: undefined, gradient_stats: false },
      { seed: this.cfg.seed },
    );
    const avg = ev.rows.find((m) => m.ood_set === AVERAGE) ?? ev.rows[0];
    row.val_auroc = avg.auroc;
    row.val_fpr95 = avg.fpr95;
    return Object.fromEntries(ev.rows.flatMap((m) => [[`val/${score}_auroc/${m.ood_set}`, m.auroc], [`val/${score}_fpr95/${m.ood_set}`, m.fpr95]]));
  }
}
