import * as path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../config/config';
import { UserError } from '../util/errors';
import { openDataSection } from '../data/section';
import { action } from './action';
import { evaluateIntoRun } from './report-eval';
import { findRunCheckpoint, loadRunModel } from './run-checkpoint';
import { startBackend } from './run-model';
import { BACKEND_OPTION } from './train';

interface EvalOpts {
  run: string;
  checkpoint?: string;
  config?: string;
  backend?: string;
}

async function runEval(o: EvalOpts): Promise<void> {
  const rc = findRunCheckpoint(o.run, o.checkpoint);
  // A run made by `grodd import` has no data section: --config lends one (and the eval settings).
  if (o.config === undefined && rc.rawConfig.data == null) {
    throw new UserError(`${rc.configFile} has no data section (a run made by grodd import): pass --config FILE whose data section to evaluate on`);
  }
  const configFile = o.config ?? rc.configFile;
  const cfg = loadConfig(configFile);
  await startBackend(cfg, o.backend);
  const data = await openDataSection(cfg.data, configFile);
  const model = await loadRunModel(rc);
  const shape = data.idTest.shape;
  if (shape.join('x') !== model.inputShape.join('x')) {
    throw new UserError(`${configFile}: its datasets give ${shape.join('x')} images, the model of ${o.run} takes ${model.inputShape.join('x')}; set size / channels or transforms in the data section`);
  }
  if (data.idTest.numClasses !== model.numClasses) {
    throw new UserError(`${configFile}: data.id.test has ${data.idTest.numClasses} classes, the model of ${o.run} has ${model.numClasses} outputs; choose the ID classes the model was trained on`);
  }
  process.stderr.write(`evaluating ${path.basename(rc.base)} (epoch ${rc.info.epoch}) of ${o.run}${o.config ? ` on the data of ${o.config}` : ''}\n`);
  await evaluateIntoRun(o.run, model, data, cfg);
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description("score a trained run on its ID test set and every OOD set; writes metrics.csv in the run directory")
    .requiredOption('-r, --run <dir>', 'run directory (runs/<name>-<timestamp>)')
    .option('--checkpoint <file>', 'a checkpoint of the run (default: the latest complete one)')
    .option('-c, --config <file>', "take the data and eval sections from this config instead of the run's (for runs made by grodd import)")
    .addOption(BACKEND_OPTION)
    .action(action((o: EvalOpts) => runEval(o)));
}
