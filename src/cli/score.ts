/**
 * grodd score --run X --data SPEC --out scores.csv
 *
 * Scores new images with a run's latest (or a given) checkpoint. SPEC is a
 * path to a directory of images (shorthand for `{format: image-folder, dir:
 * PATH, labels: none}`) or an inline YAML/JSON dataset entry, as in a config's
 * data section (`'{format: image-folder, dir: photos}'`, `'{format: npy, ...}'`).
 *
 * Preprocessing: the entry's own `transforms` if it has some, otherwise the
 * run's ID test transforms (config.yaml data.id.test.transforms). An image
 * folder without `size` is decoded at the model's input size, and then only the
 * non-geometric ID transforms (normalize, grayscale, to_rgb) apply; without
 * `channels` it is decoded with the model's channels (3 when the ID transforms
 * convert with grayscale, 1 with to_rgb); random
 * transforms are never applied. Runs made by `grodd import` have no data
 * section: images are fed as decoded, in [0, 1].
 *
 * Scores: any detector of `eval.scores` (default energy); those with statistics
 * of the ID training set (mahalanobis, knn, vim, react) read them from the
 * run's detectors/, written by train / eval for the same checkpoint; ODIN
 * takes its parameters from the run's config.yaml (eval.detectors.odin).
 *
 * Output CSV, one row per sample: index, path (the image file, or the sample
 * index for sets that are not image folders), score (higher = more ID), pred
 * (arg-max class), is_ood (score below the run's threshold, which keeps 95% of
 * the ID test set; see src/eval/threshold.ts; empty when the run has no
 * threshold.json and no --threshold is given). Batches are processed and
 * written one at a time, so memory stays bounded for any number of images.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import * as YAML from 'yaml';
import { Config, loadConfig } from '../config/config';
import { ConfigReader } from '../config/reader';
import { Dataset } from '../data/dataset';
import { DatasetSpec, openDataset, parseDatasetSpec } from '../data/spec';
import { sampleSource } from '../data/source';
import { TransformSpec, TransformedDataset, transformedShape } from '../data/transforms';
import { FITTED_SCORES, SCORE_NAMES, ScoreName, createDetector, headOf, isScoreName } from '../eval/detectors';
import { Detector } from '../eval/detectors/detector';
import { DetectorParams, parseDetectorParams } from '../eval/detectors/params';
import { pixelView } from '../eval/pixels';
import { scoreBatch } from '../eval/score-set';
import { readRunThreshold } from '../eval/threshold';
import { chunkIndices } from '../infer/outputs';
import { argmaxRows } from '../infer/softmax';
import { readDetectorStats } from '../io/detector-stats';
import { Model } from '../models/model';
import { formatCsv } from '../io/csv';
import { UserError } from '../util/errors';
import { action } from './action';
import { findRunCheckpoint, loadRunModel } from './run-checkpoint';
import { startBackend } from './run-model';
import { BACKEND_OPTION } from './train';
import { AtomicFile } from '../io/atomic-write';

interface ScoreOpts {
  run: string;
  data: string;
  out: string;
  score: string;
  checkpoint?: string;
  threshold?: string;
  batchSize: string;
  backend?: string;
}

const GEOMETRIC = new Set(['resize', 'center_crop', 'random_crop', 'hflip']);
const RANDOM = new Set(['random_crop', 'hflip']);

/** The dataset entry of --data as a plain object (directory shorthand or inline YAML/JSON). */
function dataEntry(spec: string): Record<string, unknown> {
  if (fs.existsSync(spec)) {
    if (fs.statSync(spec).isDirectory()) return { name: path.basename(path.resolve(spec)), format: 'image-folder', dir: spec, labels: 'none' };
    throw new UserError(`--data: ${spec} is a file; give a directory of images or an inline dataset entry such as '{format: npy, x: ${spec}}'`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(spec);
  } catch {
    raw = undefined;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UserError(`--data: ${JSON.stringify(spec)} is neither an existing directory of images nor an inline dataset entry such as '{format: image-folder, dir: photos}'`);
  }
  return raw as Record<string, unknown>;
}

async function runScore(o: ScoreOpts): Promise<void> {
  if (!isScoreName(o.score)) throw new UserError(`--score: unknown score ${JSON.stringify(o.score)} (expected one of ${SCORE_NAMES.join(', ')})`);
  const scoreName: ScoreName = o.score;
  const batchSize = Number(o.batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`--batch-size: expected a positive integer, got ${o.batchSize}`);
  let threshold: number | undefined;
  if (o.threshold !== undefined) {
    threshold = Number(o.threshold);
    if (!Number.isFinite(threshold)) throw new UserError(`--threshold: expected a number, got ${o.threshold}`);
  }
  // Opened first, so that an unwritable --out fails before any work; its temporary file goes if this process exits early.
  const out = new AtomicFile(o.out);
  const rc = await findRunCheckpoint(o.run, o.checkpoint);
  const input = rc.info.input_shape;

  // The run's ID test preprocessing (none for imported runs) and backend.
  let idTransforms: TransformSpec[] = [];
  let backend: Pick<Config, 'backend' | 'device'> = { backend: 'auto', device: 'cpu' };
  let params = parseDetectorParams(ConfigReader.root({}, rc.configFile));
  if (rc.rawConfig && typeof rc.rawConfig === 'object' && 'data' in rc.rawConfig) {
    const cfg = loadConfig(rc.configFile);
    idTransforms = (cfg.data.id.test.transforms ?? []).filter((t) => !RANDOM.has(t.type));
    backend = cfg;
    params = cfg.eval.detectors;
  }

  const entry = dataEntry(o.data);
  const folderAtInput = entry.format === 'image-folder' && entry.size === undefined;
  if (folderAtInput) entry.size = [input[0], input[1]];
  if (entry.format === 'image-folder' && entry.channels === undefined) {
    // Decode with the channels the ID preprocessing expects (grayscale / to_rgb convert after decoding).
    const toRgb = idTransforms.some((t) => t.type === 'to_rgb');
    const gray = idTransforms.some((t) => t.type === 'grayscale');
    entry.channels = toRgb ? 1 : gray ? 3 : input[2] === 1 ? 1 : 3;
  }
  const spec: DatasetSpec = parseDatasetSpec(ConfigReader.root(entry, '--data'), 'data');
  const list = spec.transforms ?? (folderAtInput ? idTransforms.filter((t) => !GEOMETRIC.has(t.type)) : idTransforms);
  const rawSet = await openDataset(spec);
  const shape = transformedShape(rawSet.shape, list, `--data (${rawSet.name}): transforms`);
  if (shape.join('x') !== input.join('x')) {
    throw new UserError(
      `--data: ${rawSet.name} gives ${shape.join('x')} images after transforms, the model of ${o.run} takes ${input.join('x')}; ` +
        `set size / channels or transforms in the entry`,
    );
  }
  const ds: Dataset = list.length ? new TransformedDataset(rawSet, list) : rawSet;

  if (threshold === undefined) {
    threshold = readRunThreshold(o.run, scoreName);
    if (threshold === undefined) {
      process.stderr.write(`grodd: warning: ${o.run} has no ${scoreName} threshold (threshold.json, written by train/eval); is_ood is left empty (run grodd eval on it, with --config for an imported run, or pass --threshold)\n`);
    }
  }

  await startBackend(backend, o.backend);
  const model = await loadRunModel(rc);
  const k = model.numClasses;
  const det = await runDetector(o.run, path.basename(rc.base), model, scoreName, params);
  const inputScale = det.scoreInputs ? pixelView(ds, '--data').scale : new Float32Array(input[2]).fill(1);
  const columns = ['index', 'path', 'score', 'pred', 'is_ood'];
  let flagged = 0;
  try {
    out.write(formatCsv([], columns, o.out));
    for (let start = 0; start < ds.size; start += batchSize) {
      const idx = chunkIndices(start, Math.min(batchSize, ds.size - start));
      const b = await ds.read(idx);
      const r = await scoreBatch(model, [det], b, inputScale);
      const scores = r.scores[0];
      const preds = argmaxRows(r.logits, k);
      const rows = idx.map((i, j) => {
        const isOod = threshold === undefined ? undefined : scores[j] < threshold;
        if (isOod) flagged++;
        return { index: i, path: sampleSource(rawSet, i).path ?? i, score: scores[j], pred: preds[j], is_ood: isOod };
      });
      out.write(formatCsv(rows, columns, o.out, false));
    }
    out.commit();
  } catch (e) {
    out.abort();
    throw e;
  } finally {
    det.dispose?.();
  }
  process.stderr.write(
    `scored ${ds.size} sample(s) of ${rawSet.name} with ${scoreName} (${path.basename(rc.base)} of ${o.run}): wrote ${o.out}` +
      (threshold === undefined ? '\n' : `; ${flagged} flagged OOD (score < ${threshold.toPrecision(6)}, the threshold keeping 95% of the ID test set)\n`),
  );
}

/**
 * The detector `name` for the run's model, with its ID-train statistics from the run's detectors/
 * (fitted by train / eval on the same checkpoint) where it has some.
 */
async function runDetector(run: string, checkpoint: string, model: Model, name: ScoreName, params: DetectorParams): Promise<Detector> {
  if (!FITTED_SCORES.includes(name)) return createDetector(name, { model, head: headOf(model) }, params);
  const { stats, info } = await readDetectorStats(run, name);
  if (info.checkpoint !== checkpoint) {
    throw new UserError(`${run}/detectors/${name}.json was fitted on checkpoint ${info.checkpoint}, not ${checkpoint}; run grodd eval --run ${run} on the checkpoint to score with (--checkpoint)`);
  }
  // The parameters it was fitted with, not whatever the config says now.
  const det = createDetector(name, { model, head: headOf(model) }, { ...params, [name]: info.params });
  try {
    det.restore!(stats);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${run}/detectors/${name}.safetensors: ${e.message}; refit with grodd eval --run ${run}`);
    throw e;
  }
  return det;
}

export function registerScore(program: Command): void {
  program
    .command('score')
    .description("score images with a run's model: per-sample OOD score, predicted class and OOD flag (CSV)")
    .requiredOption('-r, --run <dir>', 'run directory (its latest checkpoint is used)')
    .requiredOption('--data <spec>', "a directory of images, or an inline dataset entry such as '{format: image-folder, dir: photos}'")
    .requiredOption('--out <file>', 'output CSV')
    .addOption(new Option('--score <name>', 'OOD score (higher = more ID)').choices([...SCORE_NAMES]).default('energy'))
    .option('--checkpoint <file>', 'a checkpoint of the run instead of the latest')
    .option('--threshold <t>', "flag is_ood below this score instead of the run's stored threshold")
    .option('--batch-size <n>', 'samples per forward pass', '64')
    .addOption(BACKEND_OPTION)
    .action(action((o: ScoreOpts) => runScore(o)));
}
