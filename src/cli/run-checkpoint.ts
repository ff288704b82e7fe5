/**
 * Opens a run's model from its checkpoint alone (no dataset needed): the
 * architecture, classes and input shape come from the checkpoint's sidecar,
 * the model options from the `model` section of the run's config.yaml (a full
 * training config, or the stub that `grodd import` writes).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelConfig, parseModel } from '../config/config';
import { ConfigReader, readYamlFile } from '../config/reader';
import { CheckpointInfo, latestGoodCheckpoint, listCheckpoints, loadCheckpointWeights, readCheckpointInfo } from '../io/checkpoint';
import { checkRunDir } from '../io/run-dir';
import { Model } from '../models/model';
import { createModel } from '../models/registry';
import { UserError } from '../util/errors';
import { Rng } from '../util/rng';

export interface RunCheckpoint {
  base: string;
  info: CheckpointInfo;
  modelConfig: ModelConfig;
  /** config.yaml as parsed YAML (for the data section, when there is one). */
  rawConfig: Record<string, unknown>;
  configFile: string;
}

/**
 * The run's checkpoint to use: `checkpoint` when given, else the newest intact one (a corrupt or
 * truncated newer one is passed over with a warning naming both).
 */
export async function findRunCheckpoint(runDir: string, checkpoint?: string): Promise<RunCheckpoint> {
  checkRunDir(runDir);
  const configFile = path.join(runDir, 'config.yaml');
  const raw = readYamlFile(configFile, 'run config');
  const r = ConfigReader.root(raw ?? {}, configFile);
  const modelConfig = parseModel(r.object('model'));
  const base = checkpoint ? checkpoint.replace(/\.(safetensors|json)$/, '') : await latestGoodCheckpoint(runDir, (m) => process.stderr.write(`grodd: warning: ${m}\n`));
  if (!base) {
    const n = listCheckpoints(runDir).length;
    throw new UserError(n ? `${runDir}: none of its ${n} checkpoint(s) is intact (see the warnings); retrain it` : `${runDir} has no complete checkpoint yet (checkpoints/epoch-*.json); train it first`);
  }
  if (!fs.existsSync(`${base}.safetensors`)) throw new UserError(`checkpoint weights not found: ${base}.safetensors`);
  const info = readCheckpointInfo(base);
  if (info.arch !== modelConfig.arch) {
    throw new UserError(`${base}.json says arch ${info.arch}, but ${configFile} has model.arch ${modelConfig.arch}`);
  }
  return { base, info, modelConfig, rawConfig: raw as Record<string, unknown>, configFile };
}

/** Builds the checkpoint's model and loads its weights (a backend must be initialised). */
export async function loadRunModel(rc: RunCheckpoint): Promise<Model> {
  const model = createModel(rc.modelConfig, rc.info.input_shape, rc.info.num_classes, new Rng(0));
  await loadCheckpointWeights(rc.base, model);
  return model;
}
