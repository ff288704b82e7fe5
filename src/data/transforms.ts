import { ConfigReader } from '../config/reader';
import { UserError } from '../util/errors';
import { Rng } from '../util/rng';
import { Batch, Dataset, ImageShape } from './dataset';

/**
 * Image transforms on NHWC float32 batches, declared per dataset in the config:
 *
 *   transforms:
 *     - {type: random_crop, size: 32, padding: 4}     # pad (zeros or reflect), then a random crop
 *     - {type: hflip, p: 0.5}                         # random horizontal flip
 *     - {type: resize, size: [32, 32]}                # bilinear (half-pixel centres)
 *     - {type: center_crop, size: 28}
 *     - {type: grayscale}                             # RGB -> 1 channel (ITU-R 601 luma)
 *     - {type: to_rgb}                                # 1 channel -> 3 identical channels
 *     - {type: normalize, mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616]}
 *
 * Every transform is a pure function of (batch, rng); the random ones draw from
 * the Rng they are given, so a seeded Rng makes them reproducible.
 */
export type TransformSpec =
  | { type: 'resize'; size: [number, number] }
  | { type: 'center_crop'; size: [number, number] }
  | { type: 'random_crop'; size: [number, number]; padding: number; padding_mode: 'constant' | 'reflect' }
  | { type: 'hflip'; p: number }
  | { type: 'normalize'; mean: number[]; std: number[] }
  | { type: 'grayscale' }
  | { type: 'to_rgb' };

export const TRANSFORM_TYPES = ['resize', 'center_crop', 'random_crop', 'hflip', 'normalize', 'grayscale', 'to_rgb'] as const;

/** A `size` key: one number (square) or [height, width]. */
export function readSize(r: ConfigReader, key = 'size'): [number, number] {
  const v = r.raw[key];
  const size = typeof v === 'number' ? [r.number(key, undefined, { integer: true, min: 1 })] : r.numberList(key, undefined, { integer: true, min: 1 });
  if (size.length !== 1 && size.length !== 2) r.fail(key, `expected [height, width] or one side, got ${size.length} numbers`);
  return size.length === 1 ? [size[0], size[0]] : [size[0], size[1]];
}

export function parseTransform(r: ConfigReader): TransformSpec {
  const type = r.oneOf('type', TRANSFORM_TYPES);
  let t: TransformSpec;
  switch (type) {
    case 'resize':
    case 'center_crop':
      t = { type, size: readSize(r) };
      break;
    case 'random_crop':
      t = {
        type,
        size: readSize(r),
        padding: r.number('padding', 0, { integer: true, min: 0 }),
        padding_mode: r.oneOf('padding_mode', ['constant', 'reflect'] as const, 'constant'),
      };
      break;
    case 'hflip':
      t = { type, p: r.number('p', 0.5, { min: 0, max: 1 }) };
      break;
    case 'normalize': {
      const mean = r.numberList('mean');
      const std = r.numberList('std', undefined, { above: 0 });
      if (mean.length !== std.length) r.fail('std', `has ${std.length} values but mean has ${mean.length}`);
      if (mean.length === 0) r.fail('mean', 'expected one value per channel');
      t = { type, mean, std };
      break;
    }
    default:
      t = { type };
  }
  r.done();
  return t;
}

/** Reads a `transforms:` list (absent = none). */
export function parseTransforms(r: ConfigReader, key = 'transforms'): TransformSpec[] {
  return r.objectList(key).map(parseTransform);
}

function describeT(t: TransformSpec): string {
  return t.type;
}

/** The shape a transform list produces from `shape`; throws a UserError for an impossible list. */
export function transformedShape(shape: ImageShape, list: readonly TransformSpec[], where = 'transforms'): ImageShape {
  let [h, w, c] = shape;
  list.forEach((t, i) => {
    const at = `${where}[${i}] (${describeT(t)})`;
    switch (t.type) {
      case 'resize':
        [h, w] = t.size;
        break;
      case 'center_crop':
      case 'random_crop': {
        const pad = t.type === 'random_crop' ? t.padding : 0;
        if (t.size[0] > h + 2 * pad || t.size[1] > w + 2 * pad) {
          throw new UserError(`${at}: crop ${t.size.join('x')} is larger than the ${h + 2 * pad}x${w + 2 * pad} image${pad ? ' (with padding)' : ''}`);
        }
        if (t.type === 'random_crop' && t.padding_mode === 'reflect' && (pad >= h || pad >= w)) {
          throw new UserError(`${at}: reflect padding ${pad} needs an image larger than ${pad} pixels, got ${h}x${w}`);
        }
        [h, w] = t.size;
        break;
      }
      case 'normalize':
        if (t.mean.length !== c && t.mean.length !== 1) throw new UserError(`${at}: has ${t.mean.length} means for ${c} channel(s)`);
        break;
      case 'grayscale':
        if (c !== 3 && c !== 1) throw new UserError(`${at}: expected 1 or 3 channels, got ${c}`);
        c = 1;
        break;
      case 'to_rgb':
        if (c !== 1 && c !== 3) throw new UserError(`${at}: expected 1 or 3 channels, got ${c}`);
        c = 3;
        break;
      default:
        break;
    }
  });
  return [h, w, c];
}

/** Whether any transform in the list is random. */
export function isRandom(list: readonly TransformSpec[]): boolean {
  return list.some((t) => t.type === 'random_crop' || t.type === 'hflip');
}

// ---- the transforms themselves (new arrays; the input batch is not modified) ----

/** Bilinear resize with half-pixel centres (torch `align_corners=False`, no antialias). */
export function resize(b: Batch, oh: number, ow: number): Batch {
  const [h, w, c] = b.shape;
  if (oh === h && ow === w) return { ...b, x: b.x.slice() };
  const out = new Float32Array(b.n * oh * ow * c);
  const sy = h / oh;
  const sx = w / ow;
  const x0s = new Int32Array(ow);
  const x1s = new Int32Array(ow);
  const fxs = new Float32Array(ow);
  for (let j = 0; j < ow; j++) {
    const fx = Math.min(Math.max((j + 0.5) * sx - 0.5, 0), w - 1);
    x0s[j] = Math.floor(fx);
    x1s[j] = Math.min(x0s[j] + 1, w - 1);
    fxs[j] = fx - x0s[j];
  }
  for (let n = 0; n < b.n; n++) {
    const src = n * h * w * c;
    const dst = n * oh * ow * c;
    for (let i = 0; i < oh; i++) {
      const fy = Math.min(Math.max((i + 0.5) * sy - 0.5, 0), h - 1);
      const y0 = Math.floor(fy);
      const y1 = Math.min(y0 + 1, h - 1);
      const ay = fy - y0;
      for (let j = 0; j < ow; j++) {
        const ax = fxs[j];
        const p00 = src + (y0 * w + x0s[j]) * c;
        const p01 = src + (y0 * w + x1s[j]) * c;
        const p10 = src + (y1 * w + x0s[j]) * c;
        const p11 = src + (y1 * w + x1s[j]) * c;
        const q = dst + (i * ow + j) * c;
        for (let k = 0; k < c; k++) {
          const top = b.x[p00 + k] * (1 - ax) + b.x[p01 + k] * ax;
          const bot = b.x[p10 + k] * (1 - ax) + b.x[p11 + k] * ax;
          out[q + k] = top * (1 - ay) + bot * ay;
        }
      }
    }
  }
  return { x: out, y: b.y.slice(), n: b.n, shape: [oh, ow, c] };
}

/** Crops each image n at (top[n], left[n]) from the image padded by `pad` (zeros or reflection). */
function cropAt(b: Batch, oh: number, ow: number, pad: number, mode: 'constant' | 'reflect', top: (n: number) => number, left: (n: number) => number): Batch {
  const [h, w, c] = b.shape;
  const out = new Float32Array(b.n * oh * ow * c);
  const refl = (v: number, size: number): number => (v < 0 ? -v : v >= size ? 2 * size - 2 - v : v);
  for (let n = 0; n < b.n; n++) {
    const t = top(n) - pad;
    const l = left(n) - pad;
    const src = n * h * w * c;
    const dst = n * oh * ow * c;
    for (let i = 0; i < oh; i++) {
      let yy = t + i;
      if (yy < 0 || yy >= h) {
        if (mode === 'constant') continue;
        yy = refl(yy, h);
      }
      for (let j = 0; j < ow; j++) {
        let xx = l + j;
        if (xx < 0 || xx >= w) {
          if (mode === 'constant') continue;
          xx = refl(xx, w);
        }
        const s = src + (yy * w + xx) * c;
        const d = dst + (i * ow + j) * c;
        for (let k = 0; k < c; k++) out[d + k] = b.x[s + k];
      }
    }
  }
  return { x: out, y: b.y.slice(), n: b.n, shape: [oh, ow, c] };
}

export function centerCrop(b: Batch, oh: number, ow: number): Batch {
  const [h, w] = b.shape;
  const top = Math.round((h - oh) / 2);
  const left = Math.round((w - ow) / 2);
  return cropAt(b, oh, ow, 0, 'constant', () => top, () => left);
}

/** Pads by `padding` on every side, then crops `oh` x `ow` at a uniformly random position per image. */
export function randomCrop(b: Batch, oh: number, ow: number, padding: number, mode: 'constant' | 'reflect', rng: Rng): Batch {
  const [h, w] = b.shape;
  const tops: number[] = [];
  const lefts: number[] = [];
  for (let n = 0; n < b.n; n++) {
    tops.push(rng.int(h + 2 * padding - oh + 1));
    lefts.push(rng.int(w + 2 * padding - ow + 1));
  }
  return cropAt(b, oh, ow, padding, mode, (n) => tops[n], (n) => lefts[n]);
}

/** Mirrors each image left-right with probability p. */
export function hflip(b: Batch, p: number, rng: Rng): Batch {
  const [h, w, c] = b.shape;
  const out = b.x.slice();
  const per = h * w * c;
  for (let n = 0; n < b.n; n++) {
    if (!(rng.next() < p)) continue;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const s = n * per + (i * w + (w - 1 - j)) * c;
        const d = n * per + (i * w + j) * c;
        for (let k = 0; k < c; k++) out[d + k] = b.x[s + k];
      }
    }
  }
  return { x: out, y: b.y.slice(), n: b.n, shape: b.shape };
}

/** (x - mean[c]) / std[c] per channel (one value applies to every channel). */
export function normalize(b: Batch, mean: readonly number[], std: readonly number[]): Batch {
  const c = b.shape[2];
  const out = new Float32Array(b.x.length);
  const m = Float32Array.from({ length: c }, (_, k) => mean[mean.length === 1 ? 0 : k]);
  const inv = Float32Array.from({ length: c }, (_, k) => 1 / std[std.length === 1 ? 0 : k]);
  for (let i = 0; i < out.length; i++) {
    const k = i % c;
    out[i] = (b.x[i] - m[k]) * inv[k];
  }
  return { x: out, y: b.y.slice(), n: b.n, shape: b.shape };
}

export function grayscale(b: Batch): Batch {
  const [h, w, c] = b.shape;
  if (c === 1) return { ...b, x: b.x.slice(), y: b.y.slice() };
  const px = b.n * h * w;
  const out = new Float32Array(px);
  for (let p = 0; p < px; p++) out[p] = 0.299 * b.x[3 * p] + 0.587 * b.x[3 * p + 1] + 0.114 * b.x[3 * p + 2];
  return { x: out, y: b.y.slice(), n: b.n, shape: [h, w, 1] };
}

export function toRgb(b: Batch): Batch {
  const [h, w, c] = b.shape;
  if (c === 3) return { ...b, x: b.x.slice(), y: b.y.slice() };
  const px = b.n * h * w;
  const out = new Float32Array(px * 3);
  for (let p = 0; p < px; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = b.x[p];
  return { x: out, y: b.y.slice(), n: b.n, shape: [h, w, 3] };
}

/** Applies a transform list; `rng` is required when the list holds a random transform. */
export function applyTransforms(b: Batch, list: readonly TransformSpec[], rng?: Rng): Batch {
  let out = b;
  for (const t of list) {
    switch (t.type) {
      case 'resize':
        out = resize(out, t.size[0], t.size[1]);
        break;
      case 'center_crop':
        out = centerCrop(out, t.size[0], t.size[1]);
        break;
      case 'random_crop':
        if (!rng) throw new Error('random_crop needs an Rng');
        out = randomCrop(out, t.size[0], t.size[1], t.padding, t.padding_mode, rng);
        break;
      case 'hflip':
        if (!rng) throw new Error('hflip needs an Rng');
        out = hflip(out, t.p, rng);
        break;
      case 'normalize':
        out = normalize(out, t.mean, t.std);
        break;
      case 'grayscale':
        out = grayscale(out);
        break;
      case 'to_rgb':
        out = toRgb(out);
        break;
    }
  }
  return out;
}

/** A dataset entry's name and the shape of what it feeds to the model. */
export interface ShapedEntry {
  name: string;
  shape: ImageShape;
  transforms?: readonly TransformSpec[];
}

/**
 * Checks that every dataset (after its transforms) yields the same image shape,
 * e.g. ID train/test, auxiliary and every OOD set; throws a UserError listing each.
 */
export function checkSameShapes(entries: readonly ShapedEntry[]): ImageShape {
  const out = entries.map((e) => ({ name: e.name, shape: transformedShape(e.shape, e.transforms ?? [], `dataset "${e.name}": transforms`) }));
  if (out.length === 0) throw new UserError('no datasets to compare');
  const key = (s: ImageShape): string => s.join('x');
  const first = key(out[0].shape);
  if (out.some((e) => key(e.shape) !== first)) {
    throw new UserError(
      `datasets feed the model images of different shapes (height x width x channels, after transforms): ${out
        .map((e) => `"${e.name}" ${key(e.shape)}`)
        .join(', ')}; add resize / grayscale / to_rgb transforms so they agree`,
    );
  }
  return out[0].shape;
}

/** A view of `base` with a transform list applied on read (random ones draw from `rng` in read order). */
export class TransformedDataset implements Dataset {
  readonly shape: ImageShape;
  private readonly random: boolean;
  /** The training epoch; random transforms of sample i draw from Rng(seed, i, epoch). */
  epoch = 0;

  constructor(
    readonly base: Dataset,
    readonly list: readonly TransformSpec[],
    readonly seed = 0,
  ) {
    this.shape = transformedShape(base.shape, list, `dataset "${base.name}": transforms`);
    this.random = isRandom(list);
  }

  get name(): string {
    return this.base.name;
  }

  get size(): number {
    return this.base.size;
  }

  get numClasses(): number {
    return this.base.numClasses;
  }

  labels(): Promise<Int32Array> {
    return this.base.labels();
  }

  /**
   * Random transforms are drawn per sample from its index and the epoch, so a
   * sample's augmentation does not depend on read order, prefetching or where
   * a resumed run restarted.
   */
  async read(indices: readonly number[]): Promise<Batch> {
    const b = await this.base.read(indices);
    if (!this.random) return applyTransforms(b, this.list);
    const per = b.shape[0] * b.shape[1] * b.shape[2];
    const parts = indices.map((idx, i) =>
      applyTransforms({ x: b.x.subarray(i * per, (i + 1) * per), y: b.y.subarray(i, i + 1), n: 1, shape: b.shape }, this.list, Rng.derive(this.seed, `augment:${idx}:${this.epoch}`)),
    );
    const outPer = this.shape[0] * this.shape[1] * this.shape[2];
    const x = new Float32Array(parts.length * outPer);
    parts.forEach((p, i) => x.set(p.x, i * outPer));
    return { x, y: Int32Array.from(b.y), n: b.n, shape: this.shape };
  }
}

/**
 * The dataset without its random transforms (augmentation), the deterministic ones kept in order:
 * what detectors fit their ID training statistics on.
 */
export function withoutAugmentation(ds: Dataset): Dataset {
  if (!(ds instanceof TransformedDataset) || !isRandom(ds.list)) return ds;
  const kept = ds.list.filter((t) => !isRandom([t]));
  return kept.length ? new TransformedDataset(ds.base, kept, ds.seed) : ds.base;
}
