import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { Config, configToYaml, loadConfig } from '../config/config';
import { formatOverride, Overrides, parseOverrideArgs, provenanceComment } from '../config/overrides';
import { configWarnings, dataWarnings } from '../config/warnings';
import { openDataSection } from '../data/section';
import { BACKEND_CHOICES } from '../engine/backend';
import { writeFileAtomic, WriteError } from '../io/atomic-write';
import { checkpointBase, checkpointPoint, latestGoodCheckpoint, listCheckpoints, loadCheckpointWeights, loadOptimizerState, readCheckpointInfo, removeSuperseded, saveCheckpoint, setAside } from '../io/checkpoint';
import { readCsv, writeCsv } from '../io/csv';
import { loadInitWeights } from '../io/init-from';
import { checkRunDir, claimRunDir, createRunDir, readStatus, writeStatus } from '../io/run-dir';
import { lockRun } from '../io/run-lock';
import { countParams } from '../models/model';
import { EpochRow, ResumePoint, train, TrainState } from '../train/trainer';
import { UserError } from '../util/errors';
import { action } from './action';
import { runDataCheck } from './data-check';
import { Interrupts } from './interrupt';
import { evaluateIntoRun } from './report-eval';
import { TrainProgress } from './progress';
import { EpochValidation, TrainLogs } from './train-logs';
import { modelFor, startBackend } from './run-model';

export const BACKEND_OPTION = new Option('--backend <name>', 'tensor backend, overriding GRODD_BACKEND and the config').choices(BACKEND_CHOICES);

interface TrainOpts {
  config?: string;
  resume?: string;
  backend?: string;
  runs: string;
  runDir?: string;
}

/** Where a resumed run continues: its last complete checkpoint and the log rows up to it. */
interface Continuation {
  point?: ResumePoint;
  base?: string;
  log: EpochRow[];
}

async function continuationOf(dir: string): Promise<Continuation> {
  const warn = (m: string): void => void process.stderr.write(`grodd: warning: ${m}\n`);
  let corrupt = 0;
  const base = await latestGoodCheckpoint(dir, warn, (bad) => {
    bad.forEach(setAside);
    corrupt = bad.length;
  });
  if (!base) {
    if (corrupt) warn(`${dir} has no intact checkpoint; training starts over`);
    return { log: [] };
  }
  const info = readCheckpointInfo(base);
  const logFile = path.join(dir, 'train_log.csv');
  const rows = fs.existsSync(logFile) ? (await readCsv(logFile)).rows : [];
  // Rows written after the checkpoint belong to epochs that will be trained again.
  const log = rows.filter((r) => Number(r.epoch) <= info.epoch).map(parseLogRow);
  const m = info.margins;
  return {
    base,
    log,
    point: { epoch: info.epoch, margins: m.m_in === null || m.m_out === null ? null : { mIn: m.m_in, mOut: m.m_out }, optimizerState: await loadOptimizerState(base), within: info.within },
  };
}

function parseLogRow(r: Record<string, string>): EpochRow {
  const num = (k: string): number | null => (r[k] === '' || r[k] === undefined ? null : Number(r[k]));
  return Object.fromEntries(Object.keys(r).map((k) => [k, num(k)])) as unknown as EpochRow;
}

/** What a run directory holds, counted from its checkpoints on disk (not from epochs in memory). */
function onDisk(dir: string): string {
  const all = listCheckpoints(dir);
  if (all.length === 0) return 'no checkpoint on disk yet';
  const last = all[all.length - 1];
  let point: string;
  try {
    point = checkpointPoint(readCheckpointInfo(last));
  } catch {
    point = 'its sidecar is unreadable';
  }
  return `${all.length} checkpoint(s) on disk, the latest ${path.basename(last)} (${point})`;
}

/** A training failure the user can act on, with what the run keeps on disk and, for a full disk, how to go on. */
function explained(e: unknown, dir: string): Error {
  if (!(e instanceof UserError)) return e as Error;
  const kept = onDisk(dir);
  if (e instanceof WriteError && e.full) return new UserError(`${e.message}; free space, then grodd train --resume ${dir} (the run has ${kept})`, 1);
  return new UserError(`${e.message}. The run has ${kept}`, e.exitCode);
}

async function runTrain(o: TrainOpts, overrides: Overrides): Promise<void> {
  if (!o.config === !o.resume) throw new UserError('give either --config FILE (a new run) or --resume RUN_DIR (continue one)');
  if (o.resume && overrides.length) {
    throw new UserError(`${overrides.map(formatOverride).join(' ')}: overrides apply to a new run (--config); a resumed run continues with the config.yaml it started with`);
  }
  let dir = '';
  let progress: TrainProgress | undefined;
  let stage = 'before training started';
  // An interrupted run must not look complete or still running: its status says what is on disk.
  const interrupts = new Interrupts((why) => {
    progress?.stop();
    if (!dir) {
      process.stderr.write(`\ninterrupted by ${why} ${stage}; nothing was written\n`);
      return;
    }
    const disk = onDisk(dir);
    fs.writeFileSync(path.join(dir, 'status'), `failed: interrupted by ${why} ${stage}; ${disk}\n`);
    process.stderr.write(`\ninterrupted by ${why} ${stage}: ${dir} has ${disk}; continue with: grodd train --resume ${dir}\n`);
  });
  let cfg: Config;
  let cont: Continuation = { log: [] };
  if (o.resume) {
    checkRunDir(o.resume);
    lockRun(o.resume); // held until this process exits
    dir = o.resume;
    if (readStatus(dir) === 'completed') {
      process.stderr.write(`${dir} is already complete; nothing to resume\n`);
      interrupts.dispose();
      return;
    }
    cfg = loadConfig(path.join(dir, 'config.yaml'));
  } else {
    cfg = loadConfig(o.config!, overrides);
  }
  const backend = await startBackend(cfg, o.backend);
  if (o.resume) cont = await continuationOf(dir);
  const data = await openDataSection(cfg.data, o.config ?? path.join(dir, 'config.yaml'), cfg.seed);
  for (const w of [...configWarnings(cfg), ...dataWarnings(cfg.data, data)]) process.stderr.write(`grodd: warning: ${w}\n`);
  await runDataCheck(cfg.data, data); // bad data stops the run now, not after hours of training
  const model = modelFor(cfg, data.idTrain);
  // Steps taken by a point of training (the loader drops the last short batch), and what the weights carry
  // on from where they came from: their PyTorch key naming and BN updates before this run's steps.
  const steps = Math.floor(data.idTrain.size / cfg.train.batch_size);
  const stepsAt = (p: { epoch: number; within?: { step: number } }): number => p.epoch * steps + (p.within?.step ?? 0);
  let origin: { naming?: string; batches: number } = { batches: 0 };
  if (cont.base) {
    await loadCheckpointWeights(cont.base, model);
    const info = readCheckpointInfo(cont.base);
    origin = { naming: info.naming, batches: (info.batches_tracked ?? stepsAt(info)) - stepsAt(info) };
    process.stderr.write(`resuming ${dir} ${cont.point!.within ? 'at' : 'after'} ${checkpointPoint(cont.point!)} (${path.basename(cont.base)})\n`);
  } else if (cfg.model.init_from) {
    const init = await loadInitWeights(cfg.model.init_from, model);
    origin = { naming: init.naming, batches: init.batchesTracked };
    process.stderr.write(`model initialised from ${init.what}\n`);
  }
  if (!o.resume) {
    const claimed = o.runDir ? claimRunDir(o.runDir) : createRunDir(o.runs, cfg.name);
    lockRun(claimed);
    dir = claimed;
    await writeFileAtomic(path.join(dir, 'config.yaml'), `${provenanceComment(o.config!, overrides)}${configToYaml(cfg)}`);
  }
  process.stderr.write(
    `run ${dir}: ${model.arch} (${countParams(model).toLocaleString('en-US')} parameters), method ${cfg.train.method}, ID ${data.idTrain.name} ${data.idTrain.size} train / ${data.idTest.size} test, ` +
      `${data.aux ? `aux ${data.aux.name} ${data.aux.size}` : 'no aux'}, OOD ${data.ood.map((d) => d.name).join(', ') || 'none'}\n`,
  );
  await writeStatus(dir, 'running');
  progress = new TrainProgress(cfg.train.epochs);
  const logs = await TrainLogs.open(dir, o.resume ? (cont.point?.epoch ?? 0) : undefined, cont.point?.within?.step);
  const validation = EpochValidation.of(cfg, data);
  const log: EpochRow[] = cont.log;
  const save = async (state: TrainState): Promise<string> => {
    const m = state.margins;
    const base = checkpointBase(dir, state.epoch, state.within?.step);
    await saveCheckpoint(
      base,
      model,
      {
        arch: model.arch,
        num_classes: model.numClasses,
        input_shape: model.inputShape,
        epoch: state.epoch,
        backend,
        margins: { m_in: m?.mIn ?? null, m_out: m?.mOut ?? null },
        ...(state.within ? { within: state.within } : {}),
        ...(origin.naming ? { naming: origin.naming } : {}),
        batches_tracked: origin.batches + stepsAt(state),
      },
      state.optimizer.state(),
    );
    removeSuperseded(base);
    return base;
  };
  try {
    interrupts.graceful = true;
    stage = 'during training';
    await train(
      cfg,
      model,
      data,
      {
        onEpochStart: (e, steps) => {
          progress!.epochStart();
          logs.epochStart(e, steps);
        },
        onStep: (i) => {
          progress!.step(i);
          logs.step(i);
        },
        onScoring: (what, done, total) => progress!.phase(what, done, total),
        log: (m) => progress!.message(m),
        onEpochEnd: async (row, state) => {
          const perSet = validation ? await validation.run(model, row) : {};
          progress!.epochEnd(row);
          logs.epoch(row, perSet);
          log.push(row);
          await writeCsv(path.join(dir, 'train_log.csv'), log as unknown as Record<string, unknown>[]);
          if (row.epoch % cfg.train.checkpoint_every === 0 || row.epoch === cfg.train.epochs) await save(state);
        },
        stop: interrupts.signal,
        onStop: async (state) => {
          progress!.stop();
          const base = checkpointBase(dir, state.epoch, state.within?.step);
          if (!fs.existsSync(`${base}.json`)) await save(state);
          const at = checkpointPoint(state);
          await writeStatus(dir, `failed: interrupted by ${interrupts.reason} at ${at}; ${onDisk(dir)}`);
          process.stderr.write(`interrupted by ${interrupts.reason} at ${at}: saved ${path.basename(base)}; continue with: grodd train --resume ${dir}\n`);
        },
      },
      cont.point,
    );
    interrupts.graceful = false;
    if (interrupts.signal.aborted) {
      // Asked to stop with the last step: every epoch is saved; only the evaluation is left.
      if (log.length === cfg.train.epochs) {
        await writeStatus(dir, `failed: interrupted by ${interrupts.reason} before the evaluation; ${onDisk(dir)}`);
        process.stderr.write(`interrupted by ${interrupts.reason}: training is complete and saved, not evaluated; evaluate with: grodd train --resume ${dir}\n`);
      }
      process.exit(130);
    }
    stage = 'during the evaluation (training is complete and saved)';
    await evaluateIntoRun(dir, model, data, cfg);
    await writeStatus(dir, 'completed');
    process.stderr.write(`run complete: ${dir}\n`);
  } catch (e) {
    progress.stop();
    const err = explained(e, dir);
    try {
      await writeStatus(dir, `failed: ${err.message.split('\n')[0]}`);
    } catch (w) {
      if (!(w instanceof UserError)) throw w; // e.g. the disk is full: the message says what to do
    }
    throw err;
  } finally {
    logs.close();
    interrupts.dispose();
  }
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a model as the config says, then evaluate it; writes a run directory')
    .argument('[overrides...]', 'config overrides KEY=VALUE, e.g. train.lr=0.1 seed=3 data.ood[1].limit=500 (recorded in the run\'s config.yaml)')
    .option('-c, --config <file>', 'YAML config of a new run')
    .option('--resume <run-dir>', 'continue an interrupted run from its last complete checkpoint')
    .addOption(BACKEND_OPTION)
    .option('--runs <dir>', 'where run directories are created', 'runs')
    .option('--run-dir <dir>', 'exact directory for this run (must not exist or be empty), instead of <runs>/<name>-<timestamp>')
    .action(action((args: string[], o: TrainOpts) => runTrain(o, parseOverrideArgs(args))));
}
