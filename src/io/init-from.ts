/**
 * `model.init_from` of a training config: start from existing weights
 * (fine-tuning), e.g. a run directory made by `grodd import` or by training.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Model } from '../models/model';
import { UserError } from '../util/errors';
import { latestGoodCheckpoint, loadCheckpointWeights, readCheckpointInfo } from './checkpoint';
import { importTorchWeights } from './torch-weights';

/** Loaded initial weights: a description, and what training carries on (naming, BN update count). */
export interface InitWeights {
  what: string;
  naming?: string;
  batchesTracked: number;
}

/**
 * Loads weights into `model` from `from`:
 *   - a run directory: its latest complete checkpoint;
 *   - a checkpoint, with or without extension (`runs/X/checkpoints/epoch-0003[.safetensors|.json]`);
 *   - a PyTorch .safetensors state_dict (a .safetensors file without a grodd sidecar), loaded strictly.
 * The checkpoint's architecture and input shape must match the model's; the
 * number of classes too (shapes are checked tensor by tensor).
 * Returns a one-line description of what was loaded, and what the weights carry
 * on: their PyTorch key naming and BN update count.
 */
export async function loadInitWeights(from: string, model: Model): Promise<InitWeights> {
  if (!fs.existsSync(from) && !fs.existsSync(`${from}.json`)) throw new UserError(`model.init_from: ${from} not found (expected a run directory, a checkpoint or a .safetensors file)`);
  let base: string | undefined;
  if (fs.existsSync(from) && fs.statSync(from).isDirectory()) {
    base = await latestGoodCheckpoint(from, (m) => process.stderr.write(`grodd: warning: model.init_from: ${m}\n`));
    if (!base) throw new UserError(`model.init_from: ${from} has no intact checkpoint (checkpoints/epoch-*.json)`);
  } else {
    const stem = from.replace(/\.(safetensors|json)$/, '');
    if (fs.existsSync(`${stem}.json`)) base = stem;
    else if (from.endsWith('.safetensors')) {
      const r = await importTorchWeights(from, model, { strict: true });
      return { what: `PyTorch state_dict ${from}`, naming: r.naming, batchesTracked: r.batchesTracked };
    } else throw new UserError(`model.init_from: ${from} is neither a run directory, a grodd checkpoint (no ${stem}.json) nor a .safetensors file`);
  }
  const info = readCheckpointInfo(base);
  if (info.arch !== model.arch) throw new UserError(`model.init_from: ${base} holds a ${info.arch} model, the config builds ${model.arch}`);
  if (info.num_classes !== model.numClasses) {
    throw new UserError(`model.init_from: ${base} was made for ${info.num_classes} classes, the ID training set has ${model.numClasses}`);
  }
  await loadCheckpointWeights(base, model);
  return { what: `${path.basename(base)} of ${path.dirname(path.dirname(base))} (epoch ${info.epoch})`, naming: info.naming, batchesTracked: info.batches_tracked ?? 0 };
}
