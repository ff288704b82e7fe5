import * as YAML from 'yaml';
import { ConfigReader, describe, readYamlFile } from './reader';
import { applyOverrides, Overrides } from './overrides';
import { SMALL_CNN_DEFAULTS } from '../models/small-cnn';
import { DataSection, parseDataSection } from '../data/section';
import { BACKEND_CHOICES, BackendChoice, DEVICE_CHOICES, DeviceChoice } from '../engine/backend';
import { OptimizerConfig } from '../train/optimizers';
import { ScheduleConfig } from '../train/schedule';
import { METHODS, METHOD_PRESETS, Method } from '../train/methods';
import { SamplingSpec, parseSampling, samplingToConfig } from '../train/energy-sampling';
import { SCORE_NAMES, ScoreName } from '../eval/detectors';
import { DetectorParams, parseDetectorParams } from '../eval/detectors/params';
import { FPR95_CONVENTIONS, Fpr95Convention } from '../eval/metrics';
import { RobustConfig, parseRobust } from '../eval/robust';

export const MODEL_ARCHS = ['small-cnn', 'resnet18', 'wrn-40-2', 'densenet-bc-100', 'densenet121'] as const;
export type ModelArch = (typeof MODEL_ARCHS)[number];

/**
 * The model section. Keys are per architecture: `channels` (small-cnn only),
 * `dropout` (wrn-40-2, densenet-bc-100, densenet121; default 0), and for every
 * architecture `init_from`: a run directory (its latest checkpoint) or a
 * checkpoint path (`.../epoch-0003[.safetensors]`) whose weights replace the
 * initialisation before training (fine-tuning, e.g. from `grodd import`).
 */
export interface ModelConfig {
  arch: ModelArch;
  channels?: number[];
  strides?: number[];
  dropout?: number;
  init_from?: string;
}

export interface MarginConfig {
  /** fixed: m_in/m_out as given; percentile: set from the energies after `warmup_epochs` of plain cross-entropy. */
  mode: 'fixed' | 'percentile';
  m_in: number;
  m_out: number;
  id_percentile: number;
  aux_percentile: number;
  warmup_epochs: number;
}

export interface TrainConfig {
  method: Method;
  epochs: number;
  batch_size: number;
  lr: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  energy_loss: { weight: number };
  oe_loss: { weight: number };
  grad_reg: { weight: number; mode: 'exact' | 'finite-difference'; fd_step: number };
  /**
   * Slices each step's batches are cut into, their gradients summed (bounds the
   * double-backprop memory): one number for every backend, or one per backend
   * (`{ wasm: 8 }`: the wasm heap is 4 GB; backends not named take 1).
   */
  micro_batches: number | MicroBatchesByBackend;
  margins: MarginConfig;
  /** How each step's outliers are chosen (camelCase here; snake_case in YAML, see samplingToConfig). */
  sampling: SamplingSpec;
  checkpoint_every: number;
}

export interface EvalConfig {
  /** Detectors to score with (metrics.csv rows and scores.csv columns, in this order). */
  scores: ScoreName[];
  batch_size: number;
  /**
   * Validation after every epoch: the AUROC and FPR95 of the first score on seeded subsets of `limit`
   * samples of the ID test set and of each OOD set (train_log.csv, TensorBoard, grodd report); false: off.
   */
  every_epoch: false | { limit: number };
  /** Parameters of the detectors that have some. */
  detectors: DetectorParams;
  /** The PGD attack on the scores (robust_metrics.csv); absent = not run. */
  robust?: RobustConfig;
  /** ‖∇ₓS‖ of the energy score per set (gradient_stats.csv). */
  gradient_stats: boolean;
  fpr95: Fpr95Convention;
}

export type MicroBatchesByBackend = Partial<Record<Exclude<BackendChoice, 'auto'>, number>>;

/** The micro-batches a step takes on `backend` (as tf.getBackend() names it). */
export function microBatchesFor(t: Pick<TrainConfig, 'micro_batches'>, backend: string): number {
  return typeof t.micro_batches === 'number' ? t.micro_batches : (t.micro_batches[backend as keyof MicroBatchesByBackend] ?? 1);
}

function parseMicroBatches(r: ConfigReader, batchSize: number): number | MicroBatchesByBackend {
  const rule = { integer: true, min: 1 };
  const divides = (m: ConfigReader, key: string, n: number) => {
    if (batchSize % n !== 0) m.fail(key, `must divide batch_size (${batchSize}), got ${n}`);
  };
  if (!r.isMapping('micro_batches')) {
    const n = r.number('micro_batches', 1, rule);
    divides(r, 'micro_batches', n);
    return n;
  }
  const m = r.object('micro_batches');
  const byBackend: MicroBatchesByBackend = {};
  for (const b of BACKEND_CHOICES.filter((x) => x !== 'auto')) {
    const n = m.optionalNumber(b, rule);
    if (n === undefined) continue;
    divides(m, b, n);
    byBackend[b as keyof MicroBatchesByBackend] = n;
  }
  m.done();
  return byBackend;
}

/** A whole run's configuration, every default filled in (what config.yaml of a run holds). */
export interface Config {
  name: string;
  seed: number;
  backend: BackendChoice;
  /** Where the native backend computes ('cuda' needs a CUDA build of libtorch). */
  device: DeviceChoice;
  data: DataSection;
  model: ModelConfig;
  train: TrainConfig;
  eval: EvalConfig;
}

const DEFAULT_SCORES: ScoreName[] = ['energy', 'msp', 'maxlogit'];

function parseOptimizer(r: ConfigReader): OptimizerConfig {
  const name = r.oneOf('name', ['sgd', 'adam'] as const, 'sgd');
  const weight_decay = r.number('weight_decay', name === 'sgd' ? 5e-4 : 0, { min: 0 });
  const c: OptimizerConfig = name === 'sgd'
    ? { name, momentum: r.number('momentum', 0.9, { min: 0, max: 1 }), nesterov: r.boolean('nesterov', true), weight_decay }
    : { name, beta1: r.number('beta1', 0.9, { min: 0, max: 1 }), beta2: r.number('beta2', 0.999, { min: 0, max: 1 }), eps: r.number('eps', 1e-8, { above: 0 }), weight_decay };
  r.done();
  return c;
}

function parseSchedule(r: ConfigReader): ScheduleConfig {
  const name = r.oneOf('name', ['cosine', 'multistep', 'constant'] as const, 'cosine');
  let c: ScheduleConfig;
  if (name === 'cosine') c = { name, min_lr: r.number('min_lr', 0, { min: 0 }) };
  else if (name === 'multistep') c = { name, milestones: r.numberList('milestones', undefined, { integer: true, min: 1 }), gamma: r.number('gamma', 0.1, { above: 0 }) };
  else c = { name };
  r.done();
  return c;
}

function parseMargins(r: ConfigReader): MarginConfig {
  const c: MarginConfig = {
    mode: r.oneOf('mode', ['fixed', 'percentile'] as const, 'fixed'),
    m_in: r.number('m_in', -25),
    m_out: r.number('m_out', -7),
    id_percentile: r.number('id_percentile', 20, { min: 0, max: 100 }),
    aux_percentile: r.number('aux_percentile', 80, { min: 0, max: 100 }),
    warmup_epochs: r.number('warmup_epochs', 1, { integer: true, min: 0 }),
  };
  if (c.mode === 'fixed' && c.m_in >= c.m_out) r.fail('m_in', `must be below m_out (${c.m_out}), got ${c.m_in}: ID energies are meant to be lower than outliers'`);
  r.done();
  return c;
}

function parseTrain(r: ConfigReader): TrainConfig {
  const method = r.oneOf('method', METHODS, 'greg');
  const preset = METHOD_PRESETS[method];
  const eLoss = r.object('energy_loss');
  const oeLoss = r.object('oe_loss');
  const gReg = r.object('grad_reg');
  const c: TrainConfig = {
    method,
    epochs: r.number('epochs', 10, { integer: true, min: 1 }),
    batch_size: r.number('batch_size', 64, { integer: true, min: 1 }),
    lr: r.number('lr', 0.05, { above: 0 }),
    optimizer: parseOptimizer(r.object('optimizer')),
    schedule: parseSchedule(r.object('schedule')),
    energy_loss: { weight: eLoss.number('weight', preset.energyWeight, { min: 0 }) },
    oe_loss: { weight: oeLoss.number('weight', preset.oeWeight, { min: 0 }) },
    grad_reg: {
      weight: gReg.number('weight', preset.gradRegWeight, { min: 0 }),
      mode: gReg.oneOf('mode', ['exact', 'finite-difference'] as const, 'exact'),
      fd_step: gReg.number('fd_step', 1e-3, { above: 0 }),
    },
    micro_batches: 1,
    margins: parseMargins(r.object('margins')),
    sampling: parseSampling(r.object('sampling'), preset.sampling),
    checkpoint_every: r.number('checkpoint_every', 1, { integer: true, min: 1 }),
  };
  c.micro_batches = parseMicroBatches(r, c.batch_size);
  eLoss.done();
  oeLoss.done();
  gReg.done();
  r.done();
  return c;
}

export function parseModel(r: ConfigReader): ModelConfig {
  const c: ModelConfig = { arch: r.oneOf('arch', MODEL_ARCHS, 'small-cnn') };
  if (c.arch === 'small-cnn') {
    c.channels = r.numberList('channels', SMALL_CNN_DEFAULTS.channels, { integer: true, min: 1 });
    if (c.channels.length === 0) r.fail('channels', 'expected at least one block');
    c.strides = r.numberList('strides', r.has('channels') ? c.channels.map(() => 2) : SMALL_CNN_DEFAULTS.strides, { integer: true, min: 1, max: 4 });
    if (c.strides.length !== c.channels.length) r.fail('strides', `expected one stride per block (${c.channels.length}), got ${c.strides.length}`);
  }
  if (c.arch !== 'small-cnn' && c.arch !== 'resnet18') c.dropout = r.number('dropout', 0, { min: 0, max: 0.99 });
  const init = r.optionalString('init_from');
  if (init !== undefined) c.init_from = init;
  for (const k of ['channels', 'strides']) if (c.channels === undefined && r.has(k)) r.fail(k, `only arch small-cnn takes ${k} (arch is ${c.arch})`);
  if (c.dropout === undefined && r.has('dropout')) r.fail('dropout', `arch ${c.arch} has no dropout (wrn-40-2, densenet-bc-100 and densenet121 do)`);
  r.done();
  return c;
}

/** `every_epoch`: false (default), true (500 samples per set) or `{limit: N}`. */
function parseEveryEpoch(r: ConfigReader): EvalConfig['every_epoch'] {
  const v = r.raw.every_epoch;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return r.boolean('every_epoch', false) && { limit: 500 };
  const e = r.object('every_epoch');
  const c = { limit: e.number('limit', 500, { integer: true, min: 2 }) };
  e.done();
  return c;
}

function parseEval(r: ConfigReader): EvalConfig {
  const c: EvalConfig = {
    scores: r.oneOfList('scores', SCORE_NAMES, DEFAULT_SCORES),
    batch_size: r.number('batch_size', 256, { integer: true, min: 1 }),
    every_epoch: parseEveryEpoch(r),
    detectors: parseDetectorParams(r.object('detectors')),
    gradient_stats: r.boolean('gradient_stats', false),
    fpr95: r.oneOf('fpr95', FPR95_CONVENTIONS, 'nearest'),
  };
  const repeated = c.scores.find((s, i) => c.scores.indexOf(s) !== i);
  if (repeated) r.fail('scores', `lists ${repeated} twice`);
  const robust = r.object('robust');
  if (r.has('robust')) c.robust = parseRobust(robust);
  r.done();
  return c;
}

/** Longest run name: with `-<timestamp>-N` it stays within a file name's 255 bytes. */
export const MAX_NAME = 200;

/** Checks a parsed YAML document and returns the resolved config. */
export function parseConfig(raw: unknown, file: string): Config {
  const r = ConfigReader.root(raw, file);
  const c: Config = {
    name: r.string('name', 'run'),
    seed: r.number('seed', 0, { integer: true, min: 0 }),
    backend: r.oneOf('backend', BACKEND_CHOICES, 'auto'),
    device: r.oneOf('device', DEVICE_CHOICES, 'cpu'),
    data: parseDataSection(r.object('data', true)),
    model: parseModel(r.object('model')),
    train: parseTrain(r.object('train')),
    eval: parseEval(r.object('eval')),
  };
  if (!/^[A-Za-z0-9._+-]+$/.test(c.name)) r.fail('name', `use letters, digits, '.', '_', '+' or '-' only (it names the run directory), got ${describe(c.name)}`);
  if (c.name.length > MAX_NAME) r.fail('name', `at most ${MAX_NAME} characters (it names the run directory, with a timestamp, and a file name has at most 255), got ${c.name.length}`);
  r.done();
  return c;
}

/** Reads and checks a YAML config file, with command-line `overrides` applied (see overrides.ts). */
export function loadConfig(file: string, overrides: Overrides = []): Config {
  return parseConfig(applyOverrides(readYamlFile(file, 'config file'), file, overrides, parseConfig), file);
}

/**
 * The resolved config in its one canonical form: the plain YAML value a run's config.yaml holds
 * (snake_case keys throughout, no undefined fields), which `parseConfig` reads back to the same
 * config. Configs are compared in this form (a sweep checking that a trial ran with today's config).
 */
export function configToPlain(c: Config): Record<string, unknown> {
  return JSON.parse(JSON.stringify({ ...c, train: { ...c.train, sampling: samplingToConfig(c.train.sampling) } }));
}

/** The resolved config as YAML, for a run's config.yaml. */
export function configToYaml(c: Config): string {
  return YAML.stringify(configToPlain(c));
}
