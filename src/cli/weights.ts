import * as path from 'node:path';
import { Command } from 'commander';
import * as YAML from 'yaml';
import { MODEL_ARCHS, ModelArch, ModelConfig, parseModel } from '../config/config';
import { ConfigReader } from '../config/reader';
import { initBackend } from '../engine/backend';
import { writeFileAtomic } from '../io/atomic-write';
import { checkpointBase, saveCheckpoint } from '../io/checkpoint';
import { claimRunDir, writeStatus } from '../io/run-dir';
import { exportTorchWeights, headClasses, loadTorchStateDict, readTorchStateDict } from '../io/torch-weights';
import { countParams } from '../models/model';
import { ARCH_INFO, createModel, defaultModelConfig } from '../models/registry';
import { UserError } from '../util/errors';
import { Rng } from '../util/rng';
import { action } from './action';
import { findRunCheckpoint, loadRunModel } from './run-checkpoint';

/** "32x32x3" or "32x32" (3 channels) -> [h, w, c]. */
export function parseInputShape(s: string): [number, number, number] {
  const m = /^(\d+)x(\d+)(?:x(\d+))?$/.exec(s.trim());
  if (!m) throw new UserError(`--input: expected HxWxC such as 32x32x3, got ${JSON.stringify(s)}`);
  const shape: [number, number, number] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 3)];
  if (shape.some((v) => v < 1)) throw new UserError(`--input: sizes must be positive, got ${s}`);
  return shape;
}

function checkArch(a: string): ModelArch {
  if (!(MODEL_ARCHS as readonly string[]).includes(a)) throw new UserError(`--arch: unknown architecture ${JSON.stringify(a)} (expected one of ${MODEL_ARCHS.join(', ')})`);
  return a as ModelArch;
}

interface ImportOpts {
  arch: string;
  from: string;
  out: string;
  numClasses?: string;
  input?: string;
  nonStrict?: boolean;
  channels?: string;
  strides?: string;
}

/** "8,16" (or "[8, 16]") -> [8, 16]; the values are checked by the model section's reader. */
function numberList(s: string): unknown[] {
  return s.replace(/^\[|\]$/g, '').split(',').map((v) => (v.trim() === '' ? v : Number(v)));
}

/** The model section of the import: the architecture's defaults, or the small CNN's --channels / --strides. */
function importModelConfig(arch: ModelArch, o: ImportOpts): ModelConfig {
  if (o.channels === undefined && o.strides === undefined) return defaultModelConfig(arch);
  const raw = { arch, ...(o.channels !== undefined ? { channels: numberList(o.channels) } : {}), ...(o.strides !== undefined ? { strides: numberList(o.strides) } : {}) };
  return parseModel(ConfigReader.root(raw, '--channels/--strides'));
}

async function runImport(o: ImportOpts): Promise<void> {
  const arch = checkArch(o.arch);
  const mc = importModelConfig(arch, o);
  const tensors = await readTorchStateDict(o.from);
  let classes: number;
  if (o.numClasses !== undefined) {
    classes = Number(o.numClasses);
    if (!Number.isInteger(classes) || classes < 1) throw new UserError(`--num-classes: expected a positive integer, got ${o.numClasses}`);
  } else {
    const k = headClasses(tensors, arch);
    if (k === undefined) throw new UserError(`${o.from}: cannot tell the number of classes (no classifier weight found for ${arch}); pass --num-classes`);
    classes = k;
  }
  const input = o.input ? parseInputShape(o.input) : ARCH_INFO[arch].input;
  await initBackend('cpu');
  const model = createModel(mc, input, classes, new Rng(0));
  const report = loadTorchStateDict(model, tensors, { strict: !o.nonStrict, source: o.from, warn: (m) => process.stderr.write(`grodd: warning: ${m}\n`) });
  const dir = claimRunDir(o.out);
  await saveCheckpoint(checkpointBase(dir, 0), model, {
    arch: model.arch,
    num_classes: classes,
    input_shape: input,
    epoch: 0,
    backend: 'import',
    margins: { m_in: null, m_out: null },
    naming: report.naming,
    batches_tracked: report.batchesTracked,
  });
  const stub =
    `# Made by \`grodd import\` from ${o.from} (PyTorch state_dict, ${new Date().toISOString()}).\n` +
    `# Not a complete training config (no data section): use this run as \`model: { arch: ${arch}, init_from: ${dir} }\`\n` +
    `# in a training config to fine-tune it, \`grodd eval --run ${dir} --config X.yaml\` it (which also stores the\n` +
    `# threshold \`grodd score\` flags OOD images with), or \`grodd export\` it.\n` +
    YAML.stringify({ name: path.basename(path.resolve(dir)), model: mc });
  await writeFileAtomic(path.join(dir, 'config.yaml'), stub);
  await writeFileAtomic(
    path.join(dir, 'import.json'),
    JSON.stringify({ source: path.resolve(o.from), arch, num_classes: classes, input_shape: input, strict: !o.nonStrict, naming: report.naming, prefix: report.prefix, loaded: report.loaded.length, missing: report.missing, unexpected: report.unexpected, mismatched: report.mismatched, renamed: report.renamed }, null, 2) + '\n',
  );
  await writeStatus(dir, 'completed');
  process.stderr.write(
    `imported ${report.loaded.length} tensors of ${o.from} into ${dir} (${arch}, ${classes} classes, input ${input.join('x')}, ${countParams(model).toLocaleString('en-US')} parameters)` +
      `${report.prefix ? `; dropped the prefix ${report.prefix}` : ''}${report.naming !== 'grodd' ? `; ${report.naming} key naming, which export keeps` : ''}` +
      `${report.renamed.length ? `; renamed ${report.renamed.length} key(s), e.g. ${report.renamed[0]}` : ''}\n`,
  );
}

interface ExportOpts {
  run: string;
  out: string;
  checkpoint?: string;
  naming?: string;
}

async function runExport(o: ExportOpts): Promise<void> {
  if (!o.out.endsWith('.safetensors')) throw new UserError(`--out: grodd writes .safetensors files only, got ${o.out} (load it in PyTorch with safetensors.torch.load_file)`);
  const rc = await findRunCheckpoint(o.run, o.checkpoint);
  await initBackend('cpu');
  const model = await loadRunModel(rc);
  const naming = o.naming ?? rc.info.naming ?? 'grodd';
  const n = await exportTorchWeights(model, o.out, { source_checkpoint: path.basename(rc.base), epoch: String(rc.info.epoch), naming }, { naming, batchesTracked: rc.info.batches_tracked });
  process.stderr.write(
    `wrote ${o.out}: ${n} tensors of ${model.arch} (${path.basename(rc.base)}, PyTorch layout, ${naming} key naming); load with ` +
      `model.load_state_dict(safetensors.torch.load_file('${o.out}'))\n`,
  );
}

export function registerWeights(program: Command): void {
  program
    .command('import')
    .description('import PyTorch weights (a .safetensors state_dict) as a run directory with one checkpoint, usable as model.init_from')
    .requiredOption('--arch <name>', `architecture: ${MODEL_ARCHS.join(', ')}`)
    .requiredOption('--from <file>', 'PyTorch state_dict as .safetensors')
    .requiredOption('--out <dir>', 'run directory to create (must not exist or be empty)')
    .option('--num-classes <k>', 'number of classes (default: read from the classifier weight)')
    .option('--input <HxWxC>', 'input shape (default 32x32x3; 224x224x3 for densenet121; 28x28x1 for small-cnn)')
    .option('--non-strict', 'load the matching tensors even with missing, unexpected or mis-shaped keys (reported)')
    .option('--channels <list>', 'small-cnn: channels per block, e.g. 8,16 (default 32,64,128)')
    .option('--strides <list>', 'small-cnn: stride per block, e.g. 2,2 (default 2 each)')
    .action(action((o: ImportOpts) => runImport(o)));
  program
    .command('export')
    .description("export a run's checkpoint as a PyTorch state_dict (.safetensors, PyTorch names and layout)")
    .requiredOption('-r, --run <dir>', 'run directory')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--checkpoint <file>', 'a checkpoint of the run (default: the latest complete one)')
    .option('--naming <name>', `key naming: grodd, or for resnet18 also openood (fc head) or torchvision (fc, downsample); default: the one the weights were imported with`)
    .action(action((o: ExportOpts) => runExport(o)));
}
