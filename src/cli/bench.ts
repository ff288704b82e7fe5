import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { Baseline, compare, ComparisonRow, makeBaseline, parseBaseline, slack } from '../bench/compare';
import { loadConfig } from '../config/config';
import { formatOverride, Overrides, parseOverrideArgs } from '../config/overrides';
import { AVERAGE, METRIC_KEYS } from '../eval/evaluate';
import { ensureDir, writeFileAtomic } from '../io/atomic-write';
import { readCsv, writeCsv } from '../io/csv';
import { readStatus } from '../io/run-dir';
import { UserError } from '../util/errors';
import { action } from './action';
import { formatTable } from './table';

interface BenchOpts {
  config: string;
  baseline: string;
  updateBaseline?: boolean;
  out: string;
  score: string;
}

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'grodd.js');
/** Threads of the wasm backend during the benchmark: results depend (slightly) on it, so it is fixed. */
const BENCH_THREADS = '2';

function pkgVersion(name: string): string | undefined {
  try {
    const file = name === 'grodd' ? path.join(ROOT, 'package.json') : require.resolve(`${name}/package.json`, { paths: [ROOT] });
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

function gitCommit(): string | undefined {
  if (process.env.GITHUB_SHA) return process.env.GITHUB_SHA;
  try {
    const head = fs.readFileSync(path.join(ROOT, '.git', 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head;
    const ref = head.slice(5);
    const loose = path.join(ROOT, '.git', ref);
    if (fs.existsSync(loose)) return fs.readFileSync(loose, 'utf8').trim();
    const packed = fs.readFileSync(path.join(ROOT, '.git', 'packed-refs'), 'utf8').split('\n').find((l) => l.endsWith(` ${ref}`));
    return packed?.split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Empties `<out>/run` for a fresh run, refusing to delete anything that is not a grodd run. */
function freshRunDir(out: string): string {
  const dir = path.join(out, 'run');
  if (fs.existsSync(dir)) {
    const entries = fs.readdirSync(dir);
    if (entries.length && !entries.includes('config.yaml')) throw new UserError(`${dir} exists and is not a grodd run directory; remove it or choose another --out`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  ensureDir(out);
  return dir;
}

function runTrain(args: string[], logFile: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const log = fs.openSync(logFile, 'w');
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', log, log], env });
    fs.closeSync(log);
    const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      resolve({ code, signal });
    });
  });
}

const fmt = (key: string, v: number | undefined): string => {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return key.endsWith('seconds') ? v.toFixed(1) : v.toFixed(4);
};

function table(rows: ComparisonRow[], baseline: Baseline): string {
  return formatTable(
    ['metric', 'better', 'baseline', 'value', 'delta', 'tolerance', 'limit', 'result'],
    rows.map((r) => {
      const e = baseline.metrics[r.key];
      const tol = e ? (e.rel_tol !== undefined && slack(e) === (e.rel_tol ?? 0) * Math.abs(e.value) && e.rel_tol > 0 ? `±${(100 * e.rel_tol).toFixed(0)}%` : `±${e.abs_tol ?? 0}`) : '';
      const delta = r.delta === undefined ? '' : `${r.delta >= 0 ? '+' : ''}${fmt(r.key, r.delta)}`;
      return [r.key, r.better ?? '', fmt(r.key, r.baseline), fmt(r.key, r.value), delta, tol, fmt(r.key, r.limit), r.status === 'regression' || r.status === 'missing' ? `FAIL (${r.status})` : r.status];
    }),
  );
}

async function runBench(o: BenchOpts, overrides: Overrides): Promise<void> {
  const cfg = loadConfig(o.config, overrides); // a config error is reported before anything runs
  let previous: Baseline | undefined;
  if (fs.existsSync(o.baseline)) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(o.baseline, 'utf8'));
    } catch (e) {
      throw new UserError(`${o.baseline}: not valid JSON: ${(e as Error).message}`);
    }
    previous = parseBaseline(raw, o.baseline);
  } else if (!o.updateBaseline) {
    throw new UserError(`baseline not found: ${o.baseline}; create it with --update-baseline`);
  }
  if (!cfg.eval.scores.includes(o.score as never)) throw new UserError(`${o.config}: eval.scores does not include ${o.score}`);

  const runDir = freshRunDir(o.out);
  // A fixed thread count on either backend, so timings compare across machines.
  const env = { ...process.env, GRODD_WASM_THREADS: process.env.GRODD_WASM_THREADS || BENCH_THREADS, GRODD_THREADS: process.env.GRODD_THREADS || BENCH_THREADS };
  const logFile = path.join(o.out, 'train.log');
  process.stderr.write(`bench: training ${o.config} in ${runDir} (log ${logFile}, ${env.GRODD_WASM_THREADS} thread(s))\n`);
  const t0 = process.hrtime.bigint();
  const r = await runTrain(['train', '--config', o.config, '--run-dir', runDir, ...overrides.map(formatOverride)], logFile, env);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const status = readStatus(runDir);
  if (r.code !== 0 || status !== 'completed') {
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-5).join('\n  ') : '';
    throw new UserError(`bench: training failed (${r.signal ? `killed by ${r.signal}` : `exit ${r.code}`}, status ${status}); log ${logFile}:\n  ${tail}`, r.code === 2 ? 2 : 1);
  }

  const metrics = await readCsv(path.join(runDir, 'metrics.csv'));
  const log = await readCsv(path.join(runDir, 'train_log.csv'));
  const result: Record<string, number> = {};
  const rows = metrics.rows.filter((m) => m.score === o.score);
  result.id_accuracy = Number(rows[0]?.id_accuracy);
  for (const m of [...rows.filter((x) => x.ood_set === AVERAGE), ...rows.filter((x) => x.ood_set !== AVERAGE)]) {
    for (const k of METRIC_KEYS) result[`${o.score}/${m.ood_set}/${k}`] = Number(m[k]);
  }
  result.wall_seconds = Number(wall.toFixed(2));
  const trainSeconds = log.rows.reduce((s, x) => s + Number(x.seconds || 0), 0);
  const lastCkpt = fs.readdirSync(path.join(runDir, 'checkpoints')).filter((f) => f.endsWith('.json')).sort().pop();
  const backend = lastCkpt ? (JSON.parse(fs.readFileSync(path.join(runDir, 'checkpoints', lastCkpt), 'utf8')) as { backend?: string }).backend : undefined;

  const environment = {
    backend: backend ?? cfg.backend,
    wasm_threads: Number(env.GRODD_WASM_THREADS),
    native_threads: Number(env.GRODD_THREADS),
    grodd: pkgVersion('grodd'),
    node: process.version,
    tfjs_core: pkgVersion('@tensorflow/tfjs-core'),
    tfjs_backend_wasm: pkgVersion('@tensorflow/tfjs-backend-wasm'),
    os: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model?.trim(),
  };
  const created = new Date().toISOString();
  const commit = gitCommit();
  const out = { schema: 1, config: o.config, overrides: overrides.map(formatOverride), created, commit, run_dir: runDir, environment, wall_seconds: result.wall_seconds, train_seconds: Number(trainSeconds.toFixed(2)), metrics: result };
  await writeFileAtomic(path.join(o.out, 'bench-result.json'), `${JSON.stringify(out, null, 2)}\n`);
  await writeCsv(path.join(o.out, 'bench-result.csv'), [{ created, commit: commit ?? '', config: o.config, ...environment, train_seconds: out.train_seconds, ...result }]);

  if (previous) {
    const c = compare(result, previous);
    process.stdout.write(`${table(c.rows, previous)}\n`);
    process.stderr.write(`bench: ${c.rows.length - c.regressions} passed, ${c.regressions} failed against ${o.baseline} (made ${previous.created || '?'} on ${String(previous.environment.cpu_model ?? '?')}); results in ${o.out}/bench-result.json\n`);
    if (!o.updateBaseline && c.regressions > 0) {
      process.stderr.write(`bench: REGRESSION; if the change is intended, rewrite the baseline with --update-baseline\n`);
      process.exitCode = 1;
    }
  }
  if (o.updateBaseline) {
    const b = makeBaseline(result, { config: o.config, created, environment: { ...environment, commit } }, previous);
    ensureDir(path.dirname(path.resolve(o.baseline)));
    await writeFileAtomic(o.baseline, `${JSON.stringify(b, null, 2)}\n`);
    if (!previous) process.stdout.write(`${formatTable(['metric', 'value'], Object.entries(result).map(([k, v]) => [k, fmt(k, v)]))}\n`);
    process.stderr.write(`bench: wrote ${o.baseline} (${Object.keys(b.metrics).length} metrics${previous ? ', tolerances kept' : ', default tolerances'})\n`);
  }
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('train and evaluate a fixed small benchmark and compare its metrics and wall time with a baseline (exit 1 on a regression)')
    .argument('[overrides...]', 'config overrides KEY=VALUE, passed to the training (recorded in bench-result.json)')
    .requiredOption('-c, --config <file>', 'benchmark config, e.g. configs/ci-bench.yaml')
    .requiredOption('--baseline <file>', 'baseline JSON with values and tolerances, e.g. bench/baseline.json')
    .option('--update-baseline', 'write the results as the new baseline (keeping its tolerances) instead of failing on a difference')
    .option('--out <dir>', 'where the run, bench-result.json and bench-result.csv go', 'bench/out')
    .option('--score <name>', 'score whose metrics are compared', 'energy')
    .action(action((args: string[], o: BenchOpts) => runBench(o, parseOverrideArgs(args))));
}
