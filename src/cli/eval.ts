import * as path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../config/config';
import { openDataSection } from '../data/section';
import { action } from './action';
import { evaluateIntoRun } from './report-eval';
import { findRunCheckpoint, loadRunModel } from './run-checkpoint';
import { startBackend } from './run-model';
import { BACKEND_OPTION } from './train';

interface EvalOpts {
  run: string;
  checkpoint?: string;
  backend?: string;
}

async function runEval(o: EvalOpts): Promise<void> {
  const rc = findRunCheckpoint(o.run, o.checkpoint);
  const cfg = loadConfig(rc.configFile);
  await startBackend(cfg, o.backend);
  const data = await openDataSection(cfg.data, rc.configFile);
  const model = await loadRunModel(rc);
  process.stderr.write(`evaluating ${path.basename(rc.base)} (epoch ${rc.info.epoch}) of ${o.run}\n`);
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
