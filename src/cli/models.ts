import { Command } from 'commander';
import { MODEL_ARCHS } from '../config/config';
import { initBackend } from '../engine/backend';
import { countParams } from '../models/model';
import { ARCH_INFO, createModel, defaultModelConfig } from '../models/registry';
import { UserError } from '../util/errors';
import { Rng } from '../util/rng';
import { action } from './action';
import { formatTable } from './table';
import { parseInputShape } from './weights';

interface ListOpts {
  input?: string;
  classes?: string;
}

async function runList(o: ListOpts): Promise<void> {
  const classes = o.classes !== undefined ? Number(o.classes) : undefined;
  if (classes !== undefined && (!Number.isInteger(classes) || classes < 1)) throw new UserError(`--classes: expected a positive integer, got ${o.classes}`);
  const input = o.input ? parseInputShape(o.input) : undefined;
  await initBackend('cpu');
  const rows: string[][] = [];
  for (const arch of MODEL_ARCHS) {
    const info = ARCH_INFO[arch];
    const shape = input ?? info.input;
    const k = classes ?? info.classes;
    const model = createModel(defaultModelConfig(arch), shape, k, new Rng(0));
    rows.push([arch, countParams(model).toLocaleString('en-US'), shape.join('x'), String(k), info.about]);
    for (const v of [...model.params.values(), ...model.buffers.values()]) v.dispose();
  }
  process.stdout.write(`${formatTable(['arch', 'parameters', 'input', 'classes', 'about'], rows, ['parameters'])}\n`);
}

export function registerModels(program: Command): void {
  const models = program.command('models').description('the model architectures grodd builds');
  models
    .command('list')
    .description('each architecture with its parameter count')
    .option('--input <HxWxC>', 'input shape for every architecture (default: each one\'s usual input)')
    .option('--classes <k>', 'number of classes for every architecture (default: 10; 1000 for densenet121)')
    .action(action((o: ListOpts) => runList(o)));
}
