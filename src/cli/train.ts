import * as path from 'node:path';
import { Command, Option } from 'commander';
import { configToYaml, loadConfig } from '../config/config';
import { openDataSection } from '../data/section';
import { evaluateModel } from '../eval/evaluate';
import { writeFileAtomic } from '../io/atomic-write';
import { checkpointBase, saveCheckpoint } from '../io/checkpoint';
import { writeCsv } from '../io/csv';
import { createRunDir, writeStatus } from '../io/run-dir';
import { countParams } from '../models/model';
import { EpochRow, train } from '../train/trainer';
import { action } from './action';
import { formatMetrics } from './metrics-table';
import { TrainProgress, evalProgress } from './progress';
import { modelFor, startBackend } from './run-model';

export const BACKEND_OPTION = new Option('--backend <name>', 'tensor backend, overriding the config').choices(['auto', 'tensorflow', 'wasm', 'cpu']);

interface TrainOpts {
  config: string;
  backend?: string;
  runs: string;
}

async function runTrain(o: TrainOpts): Promise<void> {
  const cfg = loadConfig(o.config);
  const backend = await startBackend(cfg, o.backend);
  const data = await openDataSection(cfg.data, o.config);
  const model = modelFor(cfg, data.idTrain);
  const dir = createRunDir(o.runs, cfg.name);
  process.stderr.write(
    `run ${dir}: ${model.arch} (${countParams(model).toLocaleString('en-US')} parameters), ID ${data.idTrain.name} ${data.idTrain.size} train / ${data.idTest.size} test, ` +
      `${data.aux ? `aux ${data.aux.name} ${data.aux.size}` : 'no aux'}, OOD ${data.ood.map((d) => d.name).join(', ') || 'none'}\n`,
  );
  await writeFileAtomic(path.join(dir, 'config.yaml'), `# resolved config of ${o.config} (every default filled in)\n${configToYaml(cfg)}`);
  await writeStatus(dir, 'running');
  const progress = new TrainProgress(cfg.train.epochs);
  const log: EpochRow[] = [];
  try {
    await train(cfg, model, data, {
      onEpochStart: (e, s) => progress.epochStart(e, s),
      onStep: (i) => progress.step(i),
      log: (m) => process.stderr.write(`${m}\n`),
      onEpochEnd: async (row) => {
        progress.epochEnd(row);
        log.push(row);
        await writeCsv(path.join(dir, 'train_log.csv'), log as unknown as Record<string, unknown>[]);
        if (row.epoch % cfg.train.checkpoint_every === 0 || row.epoch === cfg.train.epochs) {
          await saveCheckpoint(checkpointBase(dir, row.epoch), model, {
            arch: model.arch,
            num_classes: model.numClasses,
            input_shape: model.inputShape,
            epoch: row.epoch,
            backend,
            margins: { m_in: row.m_in, m_out: row.m_out },
          });
        }
      },
    });
    const rows = await evaluateModel(model, data.idTest, data.ood, cfg.eval, evalProgress);
    await writeCsv(path.join(dir, 'metrics.csv'), rows as unknown as Record<string, unknown>[]);
    process.stdout.write(`${formatMetrics(rows)}\n`);
    await writeStatus(dir, 'completed');
    process.stderr.write(`run complete: ${dir}\n`);
  } catch (e) {
    progress.stop();
    await writeStatus(dir, `failed: ${(e as Error).message.split('\n')[0]}`);
    throw e;
  }
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a model as the config says, then evaluate it; writes a run directory')
    .requiredOption('-c, --config <file>', 'YAML config')
    .addOption(BACKEND_OPTION)
    .option('--runs <dir>', 'where run directories are created', 'runs')
    .action(action((o: TrainOpts) => runTrain(o)));
}
