import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { configToYaml, loadConfig } from '../config/config';
import { Overrides, parseOverrideArgs, provenanceComment } from '../config/overrides';
import { UserError } from '../util/errors';
import { openDataSection } from '../data/section';
import { ensureDir, writeError } from '../io/atomic-write';
import { createRunDir } from '../io/run-dir';
import { action } from './action';
import { evaluateIntoRun } from './report-eval';
import { findRunCheckpoint, loadRunModel } from './run-checkpoint';
import { startBackend } from './run-model';
import { BACKEND_OPTION } from './train';

interface EvalOpts {
  run: string;
  checkpoint?: string;
  config?: string;
  name?: string;
  out?: string;
  replace?: boolean;
  backend?: string;
}

/** The files of an evaluation; in a run directory, they are the run's own results (`grodd score` reads threshold.json). */
const RESULTS = ['metrics.csv', 'scores.csv', 'threshold.json'];

/** Claims `dir` for an evaluation: created, or existing and empty; never one that holds files. */
function claimEvalDir(dir: string, flag: string): string {
  ensureDir(path.dirname(path.resolve(dir)));
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(dir, e);
    if (!fs.statSync(dir).isDirectory()) throw new UserError(`${flag}: ${dir} is a file; give a directory for the evaluation`);
    if (fs.readdirSync(dir).length > 0) throw new UserError(`${flag}: ${dir} already holds files; choose another ${flag} (an evaluation never overwrites another)`);
  }
  return dir;
}

/**
 * Where an evaluation goes. The run's own results (written at the end of training) are replaced only
 * with --replace; a run that has none yet (made by `grodd import`, or whose training ended before its
 * evaluation) gets them. Otherwise: --out DIR, --name NAME (`<run>/evals/NAME/`), or by default a new
 * `<run>/evals/<checkpoint>-<timestamp>/`.
 */
function evalTarget(o: EvalOpts, checkpoint: string): { dir: string; own: boolean } {
  const given = (['name', 'out', 'replace'] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1) throw new UserError(`eval: give one of --name, --out and --replace, not ${given.map((k) => `--${k}`).join(' and ')}`);
  if (o.replace) return { dir: o.run, own: true };
  if (o.out !== undefined) return { dir: claimEvalDir(o.out, '--out'), own: false };
  if (o.name !== undefined) {
    if (!/^[A-Za-z0-9._+-]+$/.test(o.name)) throw new UserError(`--name: use letters, digits, '.', '_', '+' or '-' only (it names ${path.join(o.run, 'evals', '<name>')}), got ${JSON.stringify(o.name)}`);
    return { dir: claimEvalDir(path.join(o.run, 'evals', o.name), '--name'), own: false };
  }
  if (!RESULTS.some((f) => fs.existsSync(path.join(o.run, f)))) return { dir: o.run, own: true };
  return { dir: createRunDir(path.join(o.run, 'evals'), path.basename(checkpoint)), own: false };
}

async function runEval(o: EvalOpts, overrides: Overrides): Promise<void> {
  const rc = await findRunCheckpoint(o.run, o.checkpoint);
  // A run made by `grodd import` has no data section: --config lends one (and the eval settings).
  if (o.config === undefined && rc.rawConfig.data == null) {
    throw new UserError(`${rc.configFile} has no data section (a run made by grodd import): pass --config FILE whose data section to evaluate on`);
  }
  const configFile = o.config ?? rc.configFile;
  const cfg = loadConfig(configFile, overrides);
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
  const target = evalTarget(o, rc.base);
  process.stderr.write(`evaluating ${path.basename(rc.base)} (epoch ${rc.info.epoch}) of ${o.run}${o.config ? ` on the data of ${o.config}` : ''} into ${target.dir}\n`);
  const head = `# evaluation of ${rc.base} (epoch ${rc.info.epoch}) of ${o.run}, ${new Date().toISOString()}\n${provenanceComment(configFile, overrides)}`;
  await evaluateIntoRun(target.dir, model, data, cfg, rc.base, target.own ? [] : [['eval.yaml', `${head}${configToYaml(cfg)}`]]);
  process.stderr.write(
    target.own
      ? `wrote ${RESULTS.join(', ')} into the run ${o.run} (its own results, used by grodd score)\n`
      : `wrote ${[...RESULTS, 'eval.yaml'].join(', ')} into ${target.dir}; the run's own results are unchanged\n`,
  );
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description("score a trained run on its ID test set and every OOD set with every detector of eval.scores; writes metrics.csv, scores.csv, threshold.json and the fitted detectors' statistics (and robust_metrics.csv, gradient_stats.csv as configured) into <run>/evals/<name>/ (the run's own results only with --replace)")
    .argument('[overrides...]', 'config overrides KEY=VALUE, e.g. eval.batch_size=64 data.ood[0].limit=500')
    .requiredOption('-r, --run <dir>', 'run directory (runs/<name>-<timestamp>)')
    .option('--checkpoint <file>', 'a checkpoint of the run (default: the latest complete one)')
    .option('-c, --config <file>', "take the data and eval sections from this config instead of the run's (e.g. for runs made by grodd import)")
    .option('--name <name>', 'write the evaluation to <run>/evals/<name>/ (default: <checkpoint>-<timestamp>)')
    .option('--out <dir>', 'write the evaluation to this directory instead')
    .option('--replace', "replace the run's own results (metrics.csv, scores.csv, and threshold.json, which grodd score uses)")
    .addOption(BACKEND_OPTION)
    .action(action((args: string[], o: EvalOpts) => runEval(o, parseOverrideArgs(args))));
}
