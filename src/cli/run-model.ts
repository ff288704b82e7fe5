import { Config } from '../config/config';
import { Dataset } from '../data/dataset';
import * as os from 'node:os';
import { setDecodeThreads } from '../data/image-folder';
import { backendFromEnv, initBackend, nativeThreadCount } from '../engine/backend';
import { Model } from '../models/model';
import { createModel } from '../models/registry';
import { Rng } from '../util/rng';

/**
 * Starts the backend, printing which one runs: --backend over GRODD_BACKEND
 * over the config's `backend`, on the config's device.
 */
export async function startBackend(cfg: Pick<Config, 'backend' | 'device'>, override?: string): Promise<string> {
  const choice = (override ?? backendFromEnv() ?? cfg.backend) as Config['backend'];
  const name = await initBackend(choice, (m) => process.stderr.write(`${m}\n`), { device: cfg.device });
  // Image decoding overlaps the steps: leave it the cores the native backend's threads do not take.
  if (name === 'native') setDecodeThreads(os.availableParallelism() - nativeThreadCount());
  return name;
}

/** The run's model, shaped by its ID training set and initialised from the config's seed. */
export function modelFor(cfg: Config, idTrain: Dataset): Model {
  return createModel(cfg.model, idTrain.shape, idTrain.numClasses, Rng.derive(cfg.seed, 'init'));
}
