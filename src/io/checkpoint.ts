import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Model, assignValues, namedTensors } from '../models/model';
import type { EpochProgress } from '../train/trainer';
import { UserError } from '../util/errors';
import { ensureDir, writeFileAtomic } from './atomic-write';
import { readSafetensors, writeSafetensors } from './safetensors';

/** The JSON sidecar written beside each checkpoint's .safetensors weights. */
export interface CheckpointInfo {
  format: 'grodd-checkpoint';
  version: 1;
  arch: string;
  num_classes: number;
  input_shape: [number, number, number];
  epoch: number;
  backend: string;
  created: string;
  /** Energy margins in force at this epoch (null during warm-up). */
  margins: { m_in: number | null; m_out: number | null };
  /** Set when training stopped inside epoch `epoch + 1` (an interrupt): how far that epoch got. */
  within?: EpochProgress;
  /** SHA-256 of the weights and optimizer files, checked when they are loaded (absent in older sidecars). */
  sha256?: { weights: string; optimizer?: string };
  /** The PyTorch key naming the weights came with (`grodd import`), kept through fine-tuning for `grodd export`. */
  naming?: string;
  /** BN running-statistics updates so far (PyTorch's num_batches_tracked): imported ones plus training steps. */
  batches_tracked?: number;
}

const pad = (n: number): string => String(n).padStart(4, '0');

/**
 * `checkpoints/epoch-0003` (without extension) after epoch 3; `checkpoints/epoch-0004-step-0012` after
 * 12 steps of epoch 4 (`step`, for a run interrupted inside an epoch). Names sort in training order.
 */
export function checkpointBase(runDir: string, epoch: number, step?: number): string {
  return path.join(runDir, 'checkpoints', step === undefined ? `epoch-${pad(epoch)}` : `epoch-${pad(epoch + 1)}-step-${pad(step)}`);
}

/** "epoch 3" or "epoch 4, step 12 of 50": where a checkpoint stands. */
export function checkpointPoint(info: Pick<CheckpointInfo, 'epoch' | 'within'>): string {
  return info.within ? `epoch ${info.epoch + 1}, step ${info.within.step} of ${info.within.steps}` : `epoch ${info.epoch}`;
}

async function toFloat32(named: Iterable<[string, tf.Tensor]>): Promise<Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>> {
  const out: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [name, v] of named) out[name] = { dtype: 'F32', shape: v.shape, data: Float32Array.from(await v.data()) };
  return out;
}

/**
 * Writes the model's weights and buffers (float32, tfjs layout, PyTorch names)
 * as `<base>.safetensors`, the optimizer state (momentum buffers, Adam moments)
 * as `<base>.optim.safetensors` when given, and the sidecar as `<base>.json`
 * with the sha256 of both; the sidecar is written last, so a checkpoint with a
 * sidecar is complete.
 */
export async function saveCheckpoint(
  base: string,
  model: Model,
  info: Omit<CheckpointInfo, 'format' | 'version' | 'created' | 'sha256'>,
  optimizerState?: Map<string, tf.Tensor>,
): Promise<void> {
  ensureDir(path.dirname(base));
  const weights = await writeSafetensors(`${base}.safetensors`, await toFloat32(namedTensors(model)), { format: 'grodd', arch: model.arch });
  const optimizer = optimizerState ? await writeSafetensors(`${base}.optim.safetensors`, await toFloat32(optimizerState), { format: 'grodd-optimizer' }) : undefined;
  const full: CheckpointInfo = { format: 'grodd-checkpoint', version: 1, created: new Date().toISOString(), ...info, sha256: { weights, ...(optimizer ? { optimizer } : {}) } };
  await writeFileAtomic(`${base}.json`, JSON.stringify(full, null, 2) + '\n');
}

const SIDECAR = /^epoch-\d+(-step-\d+)?\.json$/;

/** A run's complete checkpoints (those with a sidecar), oldest first. */
export function listCheckpoints(runDir: string): string[] {
  const dir = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => SIDECAR.test(f)).sort().map((f) => path.join(dir, f.replace(/\.json$/, '')));
}

/** The newest complete checkpoint (one with a sidecar) of a run, or undefined. */
export function latestCheckpoint(runDir: string): string | undefined {
  return listCheckpoints(runDir).at(-1);
}

/** Why checkpoint `base` cannot be used (unreadable sidecar, a file missing, or not matching its sha256), or undefined. */
export async function checkpointProblem(base: string): Promise<string | undefined> {
  try {
    const info = readCheckpointInfo(base);
    await readSafetensors(`${base}.safetensors`, info.sha256?.weights);
    if (info.sha256?.optimizer !== undefined) await readSafetensors(`${base}.optim.safetensors`, info.sha256.optimizer);
    return undefined;
  } catch (e) {
    if (e instanceof UserError) return e.message;
    throw e;
  }
}

/**
 * The newest intact checkpoint of a run: a corrupt or truncated newer one is passed over with a warning
 * naming both. `onBad` gets the bad ones (e.g. to move them aside). Undefined when there is none.
 */
export async function latestGoodCheckpoint(runDir: string, warn: (m: string) => void, onBad?: (bad: string[]) => void): Promise<string | undefined> {
  const all = listCheckpoints(runDir);
  const bad: string[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    const problem = await checkpointProblem(all[i]);
    if (problem === undefined) {
      if (bad.length) onBad?.(bad);
      return all[i];
    }
    bad.push(all[i]);
    warn(`checkpoint ${path.basename(all[i])} cannot be used (${problem}); ${i > 0 ? `falling back to the previous one, ${path.basename(all[i - 1])}` : 'and it is the oldest'}`);
  }
  if (bad.length) onBad?.(bad);
  return undefined;
}

/**
 * Takes a bad checkpoint out of the run's list (its sidecar renamed to `.json.corrupt`; the files stay
 * for inspection), so that training, which will write that point again, never falls back to it twice.
 */
export function setAside(base: string): void {
  fs.renameSync(`${base}.json`, `${base}.json.corrupt`);
}

/**
 * Removes the mid-epoch checkpoints that `base` supersedes (written by an interrupt, older than
 * `base`); they are of no use once training has passed them. The sidecar goes first, so a removal cut
 * short never leaves a sidecar without its weights.
 */
export function removeSuperseded(base: string): void {
  const dir = path.dirname(base);
  const name = path.basename(base);
  for (const f of fs.readdirSync(dir).filter((f) => /^epoch-\d+-step-\d+\.json$/.test(f) && f.replace(/\.json$/, '') < name)) {
    const stem = path.join(dir, f.replace(/\.json$/, ''));
    for (const ext of ['.json', '.safetensors', '.optim.safetensors']) fs.rmSync(stem + ext, { force: true });
  }
}

export function readCheckpointInfo(base: string): CheckpointInfo {
  const file = `${base}.json`;
  let info: CheckpointInfo;
  try {
    info = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: cannot read checkpoint sidecar: ${(e as Error).message}`);
  }
  if (info.format !== 'grodd-checkpoint') throw new UserError(`${file}: not a grodd checkpoint sidecar (format: ${JSON.stringify(info.format)})`);
  return info;
}

/** The optimizer state saved with a checkpoint (empty if it has none, e.g. an imported model). */
export async function loadOptimizerState(base: string): Promise<Map<string, tf.Tensor>> {
  const file = `${base}.optim.safetensors`;
  const expected = readCheckpointInfo(base).sha256?.optimizer;
  if (expected === undefined && !fs.existsSync(file)) return new Map();
  const { tensors } = await readSafetensors(file, expected);
  return new Map(Object.entries(tensors).map(([k, t]) => [k, tf.tensor(Float32Array.from(t.data as Float32Array), t.shape)]));
}

/** Loads weights into `model`, checking the file's sha256 and that every name and shape matches. */
export async function loadCheckpointWeights(base: string, model: Model): Promise<void> {
  const file = `${base}.safetensors`;
  const { tensors } = await readSafetensors(file, readCheckpointInfo(base).sha256?.weights);
  const want = namedTensors(model);
  const missing = [...want.keys()].filter((k) => !(k in tensors));
  const unexpected = Object.keys(tensors).filter((k) => !want.has(k));
  if (missing.length || unexpected.length) {
    throw new UserError(`${file}: weights do not match the ${model.arch} model: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
  }
  for (const [name, v] of want) {
    const t = tensors[name];
    if (t.shape.join(',') !== v.shape.join(',')) throw new UserError(`${file}: ${name} has shape [${t.shape}], the model expects [${v.shape}]`);
    assignValues(v, Float32Array.from(t.data as Float32Array));
  }
}
