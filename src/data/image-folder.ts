import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { ConfigReader } from '../config/reader';
import { UserError } from '../util/errors';
import { Batch, Dataset, ImageShape } from './dataset';
import { existingDir, readUint8Batch } from './bytes';
import { readSize } from './transforms';

/**
 * A folder of JPEG / PNG / WebP (and other libvips-readable) images, decoded and
 * resized with sharp, a batch's images in parallel.
 * - `labels: auto` (default): class sub-folders (sorted by name) give labels 0..K-1,
 *   searched recursively; a folder with no sub-folders is an unlabelled set.
 *   `labels: none`: every image below `dir`, unlabelled (e.g. an OOD test folder).
 * - `size`: output [height, width] (or one number for square); `resize`: `cover`
 *   (default: scale the shorter side, centre crop), `fill` (stretch) or `contain` (pad black).
 * - `channels`: 3 (RGB, default) or 1 (grayscale).
 * - `skip_corrupt: true`: every image is decoded once when the set is opened (before
 *   `limit` applies: for a huge folder, prefer a folder of the subset) and the unreadable
 *   ones are dropped with a warning and a count; otherwise an unreadable image fails
 *   the read naming the file and the sample index.
 * - `cache: true`: keep the decoded, resized images in memory (uint8) after the first read.
 */
export interface ImageFolderOptions {
  dir: string;
  size: [number, number];
  resize: 'cover' | 'fill' | 'contain';
  channels: 1 | 3;
  labels: 'auto' | 'none';
  skip_corrupt: boolean;
  cache: boolean;
  extensions: string[];
}

const DEFAULT_EXT = ['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif', '.tif', '.tiff'];

export function parseImageFolder(r: ConfigReader): ImageFolderOptions {
  const size = readSize(r);
  const ch = r.number('channels', 3, { integer: true, min: 1, max: 3 });
  if (ch !== 1 && ch !== 3) r.fail('channels', `expected 1 or 3, got ${ch}`);
  return {
    dir: r.string('dir'),
    size,
    resize: r.oneOf('resize', ['cover', 'fill', 'contain'] as const, 'cover'),
    channels: ch as 1 | 3,
    labels: r.oneOf('labels', ['auto', 'none'] as const, 'auto'),
    skip_corrupt: r.boolean('skip_corrupt', false),
    cache: r.boolean('cache', false),
    extensions: DEFAULT_EXT,
  };
}

function listImages(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    const entries = fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (exts.includes(path.extname(e.name).toLowerCase())) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Decodes one image file into uint8 HWC of the given size; throws the decoder's error. */
export async function decodeImage(file: string, o: Pick<ImageFolderOptions, 'size' | 'resize' | 'channels'>): Promise<Buffer> {
  const [h, w] = o.size;
  let img = sharp(file, { failOn: 'error' }).rotate().resize(w, h, { fit: o.resize, position: 'centre', background: { r: 0, g: 0, b: 0 } });
  img = o.channels === 1 ? img.grayscale() : img.toColourspace('srgb');
  const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== w || info.height !== h) throw new Error(`decoded to ${info.width}x${info.height}, expected ${w}x${h}`);
  if (info.channels === o.channels) return data;
  // grayscale source asked as RGB, or RGB left as RGB by the colourspace step
  const out = Buffer.alloc(h * w * o.channels);
  for (let p = 0; p < h * w; p++) {
    if (o.channels === 3) out.fill(data[p * info.channels], p * 3, p * 3 + 3);
    else out[p] = data[p * info.channels];
  }
  return out;
}

/**
 * The threads libvips decodes and resizes with (sharp's default: one per
 * core). Lowered where the tensor backend computes on every core meanwhile,
 * since the loader decodes the next batches while a step runs.
 */
export function setDecodeThreads(n: number): void {
  sharp.concurrency(Math.max(1, Math.floor(n)));
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class ImageFolderDataset implements Dataset {
  readonly shape: ImageShape;
  private readonly cache?: (Buffer | undefined)[];

  constructor(
    readonly name: string,
    readonly files: string[],
    private readonly y: Int32Array,
    readonly numClasses: number,
    readonly classNames: string[],
    private readonly o: ImageFolderOptions,
    /** Files dropped as unreadable (skip_corrupt). */
    readonly skipped: string[] = [],
    decoded?: (Buffer | undefined)[],
  ) {
    this.shape = [o.size[0], o.size[1], o.channels];
    if (o.cache) this.cache = decoded ?? new Array(files.length);
  }

  get size(): number {
    return this.files.length;
  }

  async labels(): Promise<Int32Array> {
    return this.y;
  }

  private async decode(idx: number): Promise<Buffer> {
    const hit = this.cache?.[idx];
    if (hit) return hit;
    const file = this.files[idx];
    let data: Buffer;
    try {
      data = await decodeImage(file, this.o);
    } catch (e) {
      throw new UserError(`${file}: cannot decode image (sample ${idx} of ${this.name}): ${(e as Error).message}`);
    }
    if (this.cache) this.cache[idx] = data;
    return data;
  }

  read(indices: readonly number[]): Promise<Batch> {
    return readUint8Batch(this, this.y, indices, (idx) => this.decode(idx));
  }
}

export async function openImageFolder(name: string, o: ImageFolderOptions): Promise<Dataset> {
  const dir = existingDir(o.dir, 'image folder');
  const subdirs = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  let files: string[];
  let y: number[];
  let classNames: string[] = [];
  if (o.labels === 'auto' && subdirs.length > 0) {
    files = [];
    y = [];
    classNames = subdirs;
    subdirs.forEach((c, k) => {
      const inClass = listImages(path.join(dir, c), o.extensions);
      files.push(...inClass);
      y.push(...inClass.map(() => k));
    });
  } else {
    files = listImages(dir, o.extensions);
    y = files.map(() => -1);
  }
  if (files.length === 0) throw new UserError(`${o.dir}: no images found (extensions ${o.extensions.join(' ')})`);
  const skipped: string[] = [];
  let decoded: (Buffer | undefined)[] | undefined;
  if (o.skip_corrupt) {
    // every image is decoded once here (the only way to find truncated ones); with `cache` the result is kept
    const results = await mapLimit(files, 8, async (f) => {
      try {
        return await decodeImage(f, o);
      } catch {
        skipped.push(f);
        return undefined;
      }
    });
    const ok = results.map((r) => r !== undefined);
    if (o.cache) decoded = results.filter((r) => r !== undefined);
    if (skipped.length) {
      skipped.sort();
      process.stderr.write(
        `grodd: warning: dataset "${name}": skipped ${skipped.length} unreadable image(s) of ${files.length} in ${o.dir}: ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', ...' : ''}\n`,
      );
      files = files.filter((_, i) => ok[i]);
      y = y.filter((_, i) => ok[i]);
      if (files.length === 0) throw new UserError(`${o.dir}: none of the images could be decoded`);
    }
  }
  const numClasses = classNames.length;
  return new ImageFolderDataset(name, files, Int32Array.from(y), numClasses, classNames, o, skipped, decoded);
}
