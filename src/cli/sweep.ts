import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import * as YAML from 'yaml';
import { configToYaml, parseConfig } from '../config/config';
import { applyOverrides, formatOverride, Overrides, parseOverrideArgs } from '../config/overrides';
import { writeFileAtomic } from '../io/atomic-write';
import { writeCsv } from '../io/csv';
import { readStatus } from '../io/run-dir';
import { ExpandedSweep, expandSweep, firstDifference, parseSweepText, Trial } from '../sweep/grid';
import { readTrialResult, summarize, TrialResult } from '../sweep/summary';
import { UserError } from '../util/errors';
import { action } from './action';
import { formatTable } from './table';
import { BACKEND_OPTION } from './train';

interface SweepOpts {
  config: string;
  runs: string;
  jobs: number;
  backend?: string;
  dryRun?: boolean;
}

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'grodd.js');

function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${what} not found: ${file}` : `cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

/** Reads a sweep file and its base config, applies command-line `overrides` to the base, and expands the trials (every config checked). */
export function loadSweep(file: string, overrides: Overrides = []): ExpandedSweep {
  const spec = parseSweepText(readText(file, 'sweep file'), file);
  for (const [k] of overrides) {
    if (k === 'name' || k.startsWith('name.')) throw new UserError(`override ${k}: the sweep names each trial's run; it cannot be overridden`);
    if (k === 'seed' && spec.seeds) throw new UserError(`override seed: ${file} sets seeds: [${spec.seeds.join(', ')}]; edit that list instead`);
  }
  const expand = (raw: unknown, label: string): ExpandedSweep => expandSweep(spec, applyOverrides(raw, label, overrides, parseConfig), label);
  if ('file' in spec.base) {
    const baseFile = path.resolve(path.dirname(file), spec.base.file);
    const text = readText(baseFile, `base config (${file}: base)`);
    let raw: unknown;
    try {
      raw = YAML.parse(text);
    } catch (e) {
      throw new UserError(`${baseFile}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    return expand(raw, path.relative(process.cwd(), baseFile) || baseFile);
  }
  return expand(spec.base.inline, `${file}: base`);
}

/** Holds `<sweep dir>/sweep.lock` so that two sweeps never run the same trials at once. */
function lock(dir: string): () => void {
  const file = path.join(dir, 'sweep.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      let alive = false;
      try {
        if (pid > 0 && pid !== process.pid) {
          process.kill(pid, 0);
          alive = true;
        }
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) throw new UserError(`another grodd sweep (process ${pid}) is running in ${dir}; wait for it or stop it (a stale lock: delete ${file})`);
      fs.rmSync(file, { force: true }); // left by a sweep that was killed
    }
  }
  throw new UserError(`cannot take the lock ${file}`);
}

const pct = (x: number | undefined): string => (x === undefined ? '-' : (100 * x).toFixed(2));

function resultLine(r: TrialResult): string {
  const m = (k: string): number | undefined => r.metrics.get(`energy/average/${k}`) ?? [...r.metrics.entries()].find(([c]) => c.startsWith('energy/') && c.endsWith(`/${k}`))?.[1];
  return `energy FPR95 ${pct(m('fpr95'))}%, AUROC ${pct(m('auroc'))}%, ID acc ${pct(r.id_accuracy)}%`;
}

async function runSweep(o: SweepOpts, overrides: Overrides): Promise<void> {
  const sweep = loadSweep(o.config, overrides);
  const root = path.join(o.runs, sweep.name);
  const dirOf = (t: Trial): string => path.join(root, t.id);
  const cfgOf = (t: Trial): string => path.join(root, 'trials', `${t.id}.yaml`);
  const logOf = (t: Trial): string => path.join(root, 'logs', `${t.id}.log`);
  const resumeCmd = ['grodd sweep --config', o.config, ...(o.runs !== 'runs' ? ['--runs', o.runs] : []), ...(o.jobs !== 1 ? ['--jobs', String(o.jobs)] : []), ...(o.backend ? ['--backend', o.backend] : []), ...overrides.map(formatOverride)].join(' ');

  // A trial that already ran must have run with the config the sweep file gives now.
  const state = sweep.trials.map((t) => {
    const dir = dirOf(t);
    const started = fs.existsSync(dir) && fs.readdirSync(dir).length > 0;
    const status = started ? readStatus(dir) : 'new';
    if (started && fs.existsSync(cfgOf(t))) {
      const before = YAML.parse(fs.readFileSync(cfgOf(t), 'utf8'));
      const diff = firstDifference(before, JSON.parse(JSON.stringify(t.config)));
      if (diff !== undefined) {
        throw new UserError(
          `${o.config}: trial ${t.id} already ran in ${dir} with a different config (${diff} differs from ${cfgOf(t)}); ` +
            `give the sweep another name, or use --runs for a fresh root, or delete ${dir} to rerun it`,
        );
      }
    }
    return { started, status };
  });

  const todo = sweep.trials.filter((_, i) => state[i].status !== 'completed');
  const nDone = sweep.trials.length - todo.length;
  process.stderr.write(
    `sweep ${sweep.name}: ${sweep.trials.length} trial(s) in ${root}/ (${nDone} completed, ${todo.filter((t) => state[sweep.trials.indexOf(t)].started).length} to resume, ` +
      `${todo.filter((t) => !state[sweep.trials.indexOf(t)].started).length} new), ${o.jobs} at a time\n`,
  );
  if (o.dryRun) {
    process.stdout.write(`${formatTable(['trial', 'state', 'overrides'], sweep.trials.map((t, i) => [t.id, state[i].status, t.overrides.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') || '(base)']))}\n`);
    return;
  }

  fs.mkdirSync(path.join(root, 'trials'), { recursive: true });
  fs.mkdirSync(path.join(root, 'logs'), { recursive: true });
  const unlock = lock(root);
  const results: TrialResult[] = await Promise.all(sweep.trials.map((t) => readTrialResult(dirOf(t))));
  const writeSummary = async (): Promise<void> => {
    const s = summarize(sweep.trials, sweep.keys, results, dirOf);
    await writeCsv(path.join(root, 'summary.csv'), s.rows, s.columns);
    await writeCsv(path.join(root, 'summary_by_config.csv'), s.byConfig, s.byConfigColumns);
  };

  const env = { ...process.env };
  if (o.jobs > 1 && !env.GRODD_WASM_THREADS) {
    const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    env.GRODD_WASM_THREADS = String(Math.max(1, Math.floor(cpus / o.jobs)));
  }

  const running = new Map<ChildProcess, Trial>();
  let stopping = false;
  let failed = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`\n${sig} again: killing ${running.size} trial(s) now\n`);
      for (const c of running.keys()) c.kill('SIGKILL');
      unlock();
      process.stderr.write(`resume with: ${resumeCmd}\n`);
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`\n${sig}: stopping; waiting for ${running.size} running trial(s) to save their state (${sig} again to kill them)\n`);
    // SIGTERM, not the same signal again: after a Ctrl-C the terminal has already sent SIGINT to the
    // children, and a second SIGINT could cut their handler short; `grodd train` handles both alike.
    for (const c of running.keys()) c.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);

  const runOne = (t: Trial, k: number): Promise<void> =>
    new Promise((resolve) => {
      const i = sweep.trials.indexOf(t);
      const dir = dirOf(t);
      const resume = fs.existsSync(dir) && fs.readdirSync(dir).length > 0;
      const args = resume ? ['train', '--resume', dir] : ['train', '--config', cfgOf(t), '--run-dir', dir];
      if (o.backend) args.push('--backend', o.backend);
      const log = fs.openSync(logOf(t), 'a');
      fs.writeSync(log, `\n# ${new Date().toISOString()} grodd ${args.join(' ')}\n`);
      const started = Date.now();
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', log, log], env });
      fs.closeSync(log);
      running.set(child, t);
      process.stderr.write(`[${k}/${todo.length}] ${t.id}: ${resume ? `resuming (${state[i].status})` : 'started'}\n`);
      child.on('error', (e) => process.stderr.write(`[${k}/${todo.length}] ${t.id}: cannot start: ${e.message}\n`));
      child.on('close', async (code, signal) => {
        running.delete(child);
        results[i] = await readTrialResult(dir);
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        const r = results[i];
        if (code === 0 && r.status === 'completed') {
          process.stderr.write(`[${k}/${todo.length}] ${t.id}: completed in ${secs} s: ${resultLine(r)}\n`);
        } else if (stopping) {
          process.stderr.write(`[${k}/${todo.length}] ${t.id}: stopped after ${secs} s (${r.status})\n`);
        } else {
          failed++;
          const tail = fs.readFileSync(logOf(t), 'utf8').trimEnd().split('\n').slice(-3).join('\n    ');
          process.stderr.write(`[${k}/${todo.length}] ${t.id}: FAILED (${signal ? `killed by ${signal}` : `exit ${code}`}; ${r.status}); log ${logOf(t)}:\n    ${tail}\n`);
        }
        try {
          await writeSummary();
        } catch (e) {
          process.stderr.write(`cannot write the summary: ${(e as Error).message}\n`);
        }
        resolve();
      });
    });

  try {
    // (Re)written for every trial not yet started, so that a trial never runs a stale config file.
    for (const t of todo) if (!state[sweep.trials.indexOf(t)].started) await writeFileAtomic(cfgOf(t), `# trial ${t.id} of sweep ${sweep.name} (${o.config})${overrides.length ? ', its base with command-line overrides' : ''}\n${overrides.map((x) => `#   ${formatOverride(x)}\n`).join('')}${configToYaml(t.config)}`);
    await writeSummary();
    const active = new Set<Promise<void>>();
    let k = 0;
    for (const t of todo) {
      while (active.size >= o.jobs && !stopping) await Promise.race(active);
      if (stopping) break;
      const p = runOne(t, ++k).then(() => void active.delete(p));
      active.add(p);
    }
    await Promise.all(active);
    await writeSummary();
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    unlock();
  }

  const done = results.filter((r) => r.status === 'completed').length;
  const table = sweep.trials.map((t, i) => {
    const r = results[i];
    const m = (k: string): string => pct(r.metrics.get(`energy/average/${k}`) ?? [...r.metrics.entries()].find(([c]) => c.startsWith('energy/') && c.endsWith(`/${k}`))?.[1]);
    return [t.id, r.status.length > 40 ? `${r.status.slice(0, 37)}...` : r.status, pct(r.id_accuracy), m('fpr95'), m('auroc'), r.train_seconds === undefined ? '-' : r.train_seconds.toFixed(1)];
  });
  process.stdout.write(`${formatTable(['trial', 'status', 'id_acc%', 'energy_fpr95%', 'energy_auroc%', 'train_s'], table)}\n`);
  process.stderr.write(`summary: ${path.join(root, 'summary.csv')}, ${path.join(root, 'summary_by_config.csv')} (${done}/${sweep.trials.length} completed)\n`);
  if (stopping) {
    process.stderr.write(`interrupted; resume with the same command: ${resumeCmd}\n`);
    process.exitCode = 130;
  } else if (failed > 0) {
    process.stderr.write(`${failed} trial(s) failed; see ${path.join(root, 'logs')}/. Rerunning the same command resumes them: ${resumeCmd}\n`);
    process.exitCode = 1;
  }
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

export function registerSweep(program: Command): void {
  program
    .command('sweep')
    .description('train and evaluate every trial of a sweep file (grid x trials x seeds); rerunning resumes it')
    .argument('[overrides...]', "overrides KEY=VALUE of the sweep's base config, e.g. train.epochs=2")
    .requiredOption('-c, --config <file>', 'sweep YAML (name, base, grid, trials, seeds)')
    .option('--runs <dir>', 'root of the sweep directory <runs>/<sweep name>/', 'runs')
    .option('-j, --jobs <n>', 'trials trained at the same time (child processes)', positiveInt, 1)
    .addOption(BACKEND_OPTION)
    .option('--dry-run', 'list the trials and their state, run nothing')
    .action(action((args: string[], o: SweepOpts) => runSweep(o, parseOverrideArgs(args))));
}
