import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../config/config';
import { openDataSection } from '../data/section';
import { latestCheckpoint, loadCheckpointWeights, readCheckpointInfo } from '../io/checkpoint';
import { checkRunDir } from '../io/run-dir';
import { UserError } from '../util/errors';
import { action } from './action';
import { evaluateIntoRun } from './report-eval';
import { modelFor, startBackend } from './run-model';
import { BACKEND_OPTION } from './train';

interface EvalOpts {
  run: string;
  checkpoint?: string;
  backend?: string;
}

async function runEval(o: EvalOpts): Promise<void> {
  checkRunDir(o.run);
  const cfg = loadConfig(path.join(o.run, 'config.yaml'));
  const base = o.checkpoint ? o.checkpoint.replace(/\.(safetensors|json)$/, '') : latestCheckpoint(o.run);
  if (!base) throw new UserError(`${o.run} has no complete checkpoint yet (checkpoints/epoch-*.json); train it first`);
  if (!fs.existsSync(`${base}.safetensors`)) throw new UserError(`checkpoint weights not found: ${base}.safetensors`);
  const info = readCheckpointInfo(base);
  await startBackend(cfg, o.backend);
  const data = await openDataSection(cfg.data, path.join(o.run, 'config.yaml'));
  const model = modelFor(cfg, data.idTrain);
  await loadCheckpointWeights(base, model);
  process.stderr.write(`evaluating ${path.basename(base)} (epoch ${info.epoch}) of ${o.run}\n`);
  await evaluateIntoRun(o.run, model, data, cfg);
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description("score a trained run on its ID test set and every OOD set; writes metrics.csv in the run directory")
    .requiredOption('-r, --run <dir>', 'run directory (runs/<name>-<timestamp>)')
    .option('--checkpoint <file>', 'a checkpoint of the run (default: the latest complete one)')
    .addOption(BACKEND_OPTION)
    .action(action((o: EvalOpts) => runEval(o)));
}
