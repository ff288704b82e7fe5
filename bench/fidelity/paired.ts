/**
 * npm run bench:paired — grodd and an independent PyTorch implementation side by side on the
 * Fashion-MNIST protocol (bench/fidelity/fmnist-protocol.yaml), in pairs: for each method and seed,
 * `grodd train` runs the config, and bench/fidelity/train_torch.py trains the same initial weights on
 * the same batches in the same order (bench/fidelity/stream.ts hands it grodd's data stream), making
 * its own GReg+ picks with scikit-learn's k-means. So the two sides of a pair differ only in the
 * implementation, and a difference between them is measured against the spread of the pairs.
 *
 * Resumable: every finished side is kept under --out (grodd's run directories, PyTorch's JSON), a
 * rerun skips them and resumes an interrupted grodd run; Ctrl-C loses no finished side. It prints,
 * per method, each OOD set's FPR95 and AUROC on both sides (mean ± sample sd over seeds), the mean
 * paired difference with its standard error and an exact sign-flip test, the per-seed pairs, and the
 * training curves (per-epoch L_CE, L_S, L_∇S averaged over seeds).
 *
 * Usage: nice npm run bench:paired -- [--methods greg+,ce] [--seeds 5] [--jobs 1] [--backend native]
 *          [--out runs/fidelity] [--kmeans-tol 1e-4] [--report] [--sweep bench/fidelity/fmnist-paired.yaml]
 * Default: 20 seeds of greg+, then 5 of ce, oe, energy and greg; --seeds N runs the first N seeds of
 * every method asked for; --report only prints the tables of what is there.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configToYaml } from '../../src/config/config';
import { loadSweep } from '../../src/cli/sweep-dir';
import { formatTable } from '../../src/cli/table';
import { writeFileAtomic } from '../../src/io/atomic-write';
import { readCsv, writeCsv } from '../../src/io/csv';
import { readStatus } from '../../src/io/run-dir';
import { Trial } from '../../src/sweep/grid';
import { readTrialResult } from '../../src/sweep/summary';
import { meanStd } from '../../src/util/stats';
import { arg } from '../args';

const ROOT = path.resolve(__dirname, '..', '..');
const SWEEP = path.resolve(arg('sweep', path.join(__dirname, 'fmnist-paired.yaml')));
const DEFAULT_SEEDS: Record<string, number> = { 'greg+': 20, ce: 5, oe: 5, energy: 5, greg: 5 };
const out = path.resolve(arg('out', path.join(ROOT, 'runs', 'fidelity')));
const jobs = Number(arg('jobs', '1'));
const backend = arg('backend', 'native');
const kmeansTol = arg('kmeans-tol', '1e-4');
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const SETS = ['fmnist-near', 'mnist', 'noise'];
const CURVES = ['ce', 'energy', 'grad_reg'] as const;

interface Pair {
  trial: Trial;
  method: string;
  grodd: string;
  torch: string;
}

function plan(): Pair[] {
  const sweep = loadSweep(SWEEP);
  const methods = process.argv.includes('--methods') ? arg('methods', '').split(',') : Object.keys(DEFAULT_SEEDS);
  const pairs: Pair[] = [];
  for (const method of methods) {
    const trials = sweep.trials.filter((t) => t.config.train.method === method);
    if (!trials.length) throw new Error(`--methods: no trial of method ${method} in ${SWEEP}`);
    const n = Number(arg('seeds', String(DEFAULT_SEEDS[method] ?? 5)));
    if (n > trials.length) throw new Error(`--seeds ${n}: ${SWEEP} lists ${trials.length} seeds`);
    for (const trial of trials.slice(0, n)) {
      pairs.push({ trial, method, grodd: path.join(out, 'grodd', trial.id), torch: path.join(out, 'torch', `${trial.id}.json`) });
    }
  }
  return pairs;
}

/** Runs `argv` with its output in `log`; resolves with the exit code. */
function run(argv: string[], log: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const fd = fs.openSync(log, 'a');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], env, cwd: ROOT });
  return exited(child).finally(() => fs.closeSync(fd));
}

function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function groddSide(p: Pair, cfgFile: string, log: string): Promise<void> {
  const resume = fs.existsSync(path.join(p.grodd, 'config.yaml'));
  const argv = [process.execPath, path.join(ROOT, 'bin', 'grodd.js'), 'train', ...(resume ? ['--resume', p.grodd] : ['--config', cfgFile, '--run-dir', p.grodd]), '--backend', backend];
  const code = await run(argv, log, { ...process.env, GRODD_THREADS: process.env.GRODD_THREADS ?? '1', GRODD_WASM_THREADS: process.env.GRODD_WASM_THREADS ?? '1' });
  if (code !== 0) throw new Error(`grodd side of ${p.trial.id} failed (exit ${code}); see ${log}`);
}

async function torchSide(p: Pair, cfgFile: string, log: string): Promise<void> {
  const fd = fs.openSync(log, 'a');
  try {
    const stream = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'stream.ts'), '--config', cfgFile], { stdio: ['ignore', 'pipe', fd], cwd: ROOT });
    const py = spawn(PYTHON, [path.join(__dirname, 'train_torch.py'), '--out', p.torch, '--threads', '1', '--kmeans-tol', kmeansTol], { stdio: ['pipe', fd, fd], cwd: ROOT });
    stream.stdout!.pipe(py.stdin!);
    const [a, b] = await Promise.all([exited(stream), exited(py)]);
    if (b !== 0 || a !== 0) throw new Error(`PyTorch side of ${p.trial.id} failed (stream exit ${a}, train_torch.py exit ${b}); see ${log}`);
  } finally {
    fs.closeSync(fd);
  }
}

async function runAll(pairs: Pair[]): Promise<void> {
  for (const d of ['configs', 'grodd', 'torch', 'logs']) fs.mkdirSync(path.join(out, d), { recursive: true });
  const tasks: (() => Promise<void>)[] = [];
  for (const p of pairs) {
    const cfgFile = path.join(out, 'configs', `${p.trial.id}.yaml`);
    if (!fs.existsSync(cfgFile)) await writeFileAtomic(cfgFile, configToYaml(p.trial.config));
    const done = (what: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${p.trial.id}: ${what} side done`);
    if (!(fs.existsSync(p.grodd) && readStatus(p.grodd) === 'completed')) {
      tasks.push(() => groddSide(p, cfgFile, path.join(out, 'logs', `${p.trial.id}.grodd.log`)).then(() => done('grodd')));
    }
    if (!fs.existsSync(p.torch)) tasks.push(() => torchSide(p, cfgFile, path.join(out, 'logs', `${p.trial.id}.torch.log`)).then(() => done('PyTorch')));
  }
  console.log(`${pairs.length} pairs, ${tasks.length} sides to run, ${jobs} at a time, results in ${out}`);
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      // A failed side is reported and left for the next rerun; the others go on.
      await tasks[next++]().catch((e: Error) => {
        failed++;
        console.error(e.message);
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  if (failed) process.exitCode = 1;
}

interface Side {
  metrics: Record<string, { fpr95: number; auroc: number }>;
  idAccuracy: number;
  /** Per-epoch mean losses. */
  curves: Record<string, number>[];
}

async function readGrodd(dir: string): Promise<Side | undefined> {
  const r = await readTrialResult(dir);
  if (r.status !== 'completed') return undefined;
  const metrics = Object.fromEntries(SETS.map((s) => [s, { fpr95: r.metrics.get(`energy/${s}/fpr95`)!, auroc: r.metrics.get(`energy/${s}/auroc`)! }]));
  const log = (await readCsv(path.join(dir, 'train_log.csv'))).rows.map((row) => Object.fromEntries(CURVES.map((k) => [k, Number(row[k])])));
  return { metrics, idAccuracy: r.id_accuracy!, curves: log };
}

function readTorch(file: string): Side | undefined {
  if (!fs.existsSync(file)) return undefined;
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  return { metrics: r.metrics, idAccuracy: r.id_accuracy, curves: r.log };
}

/**
 * Two-sided p-value of the exact sign-flip (paired permutation) test of mean difference 0: the
 * share of the 2^n sign assignments whose |sum| reaches the observed one (sampled beyond n = 20).
 */
export function signFlipP(diffs: number[]): number {
  const n = diffs.length;
  const observed = Math.abs(diffs.reduce((s, d) => s + d, 0)) - 1e-12;
  const total = n <= 20 ? 2 ** n : 200000;
  let hits = 0;
  for (let m = 0; m < total; m++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const flip = n <= 20 ? (m >> i) & 1 : Math.random() < 0.5;
      s += flip ? -diffs[i] : diffs[i];
    }
    if (Math.abs(s) >= observed) hits++;
  }
  return hits / total;
}

const pct = (v: number | undefined, digits = 1): string => (v === undefined ? '' : (100 * v).toFixed(digits));
const pm = (xs: number[]): string => {
  const { mean, std } = meanStd(xs);
  return mean === undefined ? '' : `${pct(mean)} ± ${std === undefined ? '-' : pct(std)}`;
};

async function report(pairs: Pair[]): Promise<void> {
  const csvRows: Record<string, unknown>[] = [];
  for (const method of [...new Set(pairs.map((p) => p.method))]) {
    const done: { seed: number; g: Side; t: Side }[] = [];
    for (const p of pairs.filter((q) => q.method === method)) {
      const g = await readGrodd(p.grodd);
      const t = readTorch(p.torch);
      if (g && t) done.push({ seed: p.trial.seed, g, t });
    }
    if (!done.length) continue;
    console.log(`\n${method}: ${done.length} paired seed(s) (energy score; percent; ± is the sample sd over seeds; diff = grodd − PyTorch, ± its standard error)`);
    const rows: (string | number)[][] = [];
    const metricRows: [string, (s: Side) => number][] = [
      ...SETS.flatMap((set): [string, (s: Side) => number][] => [
        [`${set} FPR95`, (s) => s.metrics[set].fpr95],
        [`${set} AUROC`, (s) => s.metrics[set].auroc],
      ]),
      ['ID accuracy', (s) => s.idAccuracy],
    ];
    for (const [name, f] of metricRows) {
      const diffs = done.map((d) => f(d.g) - f(d.t));
      const { mean, std } = meanStd(diffs);
      const se = std === undefined ? undefined : std / Math.sqrt(diffs.length);
      rows.push([name, pm(done.map((d) => f(d.g))), pm(done.map((d) => f(d.t))), `${pct(mean)} ± ${se === undefined ? '-' : pct(se)}`, done.length > 1 ? signFlipP(diffs).toFixed(3) : '', `${diffs.filter((x) => x > 0).length}/${diffs.length}`]);
    }
    console.log(formatTable(['metric', 'grodd', 'PyTorch', 'diff', 'p (sign-flip)', 'grodd higher'], rows, ['grodd', 'PyTorch', 'diff']));
    console.log('\nper seed (FPR95 / AUROC, grodd vs PyTorch):');
    console.log(
      formatTable(
        ['seed', ...SETS.flatMap((s) => [`${s} FPR95`, `${s} AUROC`]), 'ID acc'],
        done.map((d) => [d.seed, ...metricRows.map(([, f]) => `${pct(f(d.g))} / ${pct(f(d.t))}`)]),
        SETS.flatMap((s) => [`${s} FPR95`, `${s} AUROC`]).concat('ID acc'),
      ),
    );
    const epochs = Math.min(...done.flatMap((d) => [d.g.curves.length, d.t.curves.length]));
    console.log('\ntraining curves (per-epoch means over seeds, grodd / PyTorch):');
    console.log(
      formatTable(
        ['epoch', ...CURVES],
        Array.from({ length: epochs }, (_, e) => [e + 1, ...CURVES.map((k) => `${meanStd(done.map((d) => d.g.curves[e][k])).mean!.toPrecision(4)} / ${meanStd(done.map((d) => d.t.curves[e][k])).mean!.toPrecision(4)}`)]),
        [...CURVES],
      ),
    );
    for (const d of done) {
      for (const [side, s] of [['grodd', d.g], ['pytorch', d.t]] as const) {
        csvRows.push({ method, seed: d.seed, side, id_accuracy: s.idAccuracy, ...Object.fromEntries(SETS.flatMap((set) => [[`${set}/fpr95`, s.metrics[set].fpr95], [`${set}/auroc`, s.metrics[set].auroc]])) });
      }
    }
  }
  if (csvRows.length) {
    await writeCsv(path.join(out, 'paired.csv'), csvRows);
    console.log(`\nper-seed results: ${path.join(out, 'paired.csv')}`);
  }
}

async function main(): Promise<void> {
  const pairs = plan();
  if (!process.argv.includes('--report')) await runAll(pairs);
  await report(pairs);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
