import { Config } from '../config/config';
import { Dataset } from '../data/dataset';
import { initBackend } from '../engine/backend';
import { Model } from '../models/model';
import { createModel } from '../models/registry';
import { Rng } from '../util/rng';

/** Starts the configured (or overriding) backend, printing which one runs. */
export async function startBackend(cfg: Config, override?: string): Promise<string> {
  const choice = (override ?? cfg.backend) as Config['backend'];
  return initBackend(choice, (m) => process.stderr.write(`${m}\n`));
}

/** The run's model, shaped by its ID training set and initialised from the config's seed. */
export function modelFor(cfg: Config, idTrain: Dataset): Model {
  return createModel(cfg.model, idTrain.shape, idTrain.numClasses, Rng.derive(cfg.seed, 'init'));
}
