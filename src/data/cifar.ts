import * as fs from 'fs';
import * as path from 'path';
import { ConfigReader } from '../config/reader';
import { UserError } from '../util/errors';
import { Batch, Dataset, ImageShape, checkIndices } from './dataset';
import { existingDir, FileSource } from './bytes';

/**
 * CIFAR-10 / CIFAR-100 "binary version" files, read at offsets.
 * - cifar10: `data_batch_1.bin` .. `data_batch_5.bin` (train), `test_batch.bin` (test);
 *   records of 1 label byte + 3072 pixel bytes.
 * - cifar100: `train.bin`, `test.bin`; records of coarse label, fine label, 3072 pixel bytes.
 * Pixels are stored channel-planar (1024 R, 1024 G, 1024 B, each row-major 32x32).
 * `dir` may be the folder holding the files or its parent (with `cifar-10-batches-bin`
 * or `cifar-100-binary` inside, as the official archives unpack).
 */
export interface CifarOptions {
  dir: string;
  variant: 'cifar10' | 'cifar100';
  split: 'train' | 'test';
  label: 'fine' | 'coarse';
}

export function parseCifar(r: ConfigReader): CifarOptions {
  const variant = r.oneOf('variant', ['cifar10', 'cifar100'] as const, 'cifar10');
  const o: CifarOptions = {
    dir: r.string('dir'),
    variant,
    split: r.oneOf('split', ['train', 'test'] as const, 'train'),
    label: r.oneOf('label', ['fine', 'coarse'] as const, 'fine'),
  };
  if (variant === 'cifar10' && r.has('label') && o.label === 'coarse') r.fail('label', 'coarse labels exist only for variant cifar100');
  return o;
}

const SIDE = 32;
const PIXELS = SIDE * SIDE * 3;

interface Part {
  src: FileSource;
  first: number;
  count: number;
}

export class CifarDataset implements Dataset {
  readonly shape: ImageShape = [SIDE, SIDE, 3];
  readonly size: number;
  private cached?: Int32Array;

  constructor(
    readonly name: string,
    private readonly parts: Part[],
    private readonly headerBytes: number,
    private readonly labelByte: number,
    readonly numClasses: number,
  ) {
    this.size = parts.reduce((s, p) => s + p.count, 0);
  }

  private locate(idx: number): { part: Part; local: number } {
    for (const part of this.parts) if (idx < part.first + part.count) return { part, local: idx - part.first };
    throw new RangeError(`${this.name}: sample index ${idx} is out of range`);
  }

  private checkLabel(v: number, file: string, local: number): number {
    if (v >= this.numClasses) throw new UserError(`${file}: record ${local} has label ${v}, outside 0..${this.numClasses - 1} (corrupted file or wrong variant?)`);
    return v;
  }

  async labels(): Promise<Int32Array> {
    if (this.cached) return this.cached;
    const rec = this.headerBytes + PIXELS;
    const out = new Int32Array(this.size);
    const chunkRecords = 1024;
    for (const part of this.parts) {
      for (let s = 0; s < part.count; s += chunkRecords) {
        const m = Math.min(chunkRecords, part.count - s);
        const buf = await part.src.read(s * rec, m * rec, `records ${s}..${s + m - 1}`);
        for (let k = 0; k < m; k++) out[part.first + s + k] = this.checkLabel(buf[k * rec + this.labelByte], part.src.file, s + k);
      }
    }
    this.cached = out;
    return out;
  }

  async read(indices: readonly number[]): Promise<Batch> {
    checkIndices(this.name, this.size, indices);
    const rec = this.headerBytes + PIXELS;
    const x = new Float32Array(indices.length * PIXELS);
    const y = new Int32Array(indices.length);
    const plane = SIDE * SIDE;
    const k = 1 / 255;
    await Promise.all(
      indices.map(async (idx, i) => {
        const { part, local } = this.locate(idx);
        const buf = await part.src.read(local * rec, rec, `sample ${idx} (record ${local})`);
        y[i] = this.checkLabel(buf[this.labelByte], part.src.file, local);
        const o = i * PIXELS;
        const px = this.headerBytes;
        for (let p = 0; p < plane; p++) {
          x[o + 3 * p] = buf[px + p] * k;
          x[o + 3 * p + 1] = buf[px + plane + p] * k;
          x[o + 3 * p + 2] = buf[px + 2 * plane + p] * k;
        }
      }),
    );
    return { x, y, n: indices.length, shape: this.shape };
  }
}

export async function openCifar(name: string, o: CifarOptions): Promise<Dataset> {
  let dir = existingDir(o.dir, 'CIFAR directory');
  const sub = o.variant === 'cifar10' ? 'cifar-10-batches-bin' : 'cifar-100-binary';
  if (fs.existsSync(path.join(dir, sub))) dir = path.join(dir, sub);
  const files =
    o.variant === 'cifar10'
      ? o.split === 'train'
        ? [1, 2, 3, 4, 5].map((b) => `data_batch_${b}.bin`)
        : ['test_batch.bin']
      : [`${o.split}.bin`];
  const headerBytes = o.variant === 'cifar10' ? 1 : 2;
  const rec = headerBytes + PIXELS;
  const parts: Part[] = [];
  let first = 0;
  for (const f of files) {
    const file = path.join(dir, f);
    if (!fs.existsSync(file)) throw new UserError(`${file}: CIFAR ${o.variant} ${o.split} file not found (expected ${files.join(', ')} in ${o.dir})`);
    const src = new FileSource(file);
    if (src.size === 0 || src.size % rec !== 0) {
      throw new UserError(
        `${file}: file is truncated or not a ${o.variant} binary file: ${src.size} bytes is not a whole number of ${rec}-byte records`,
      );
    }
    const count = src.size / rec;
    parts.push({ src, first, count });
    first += count;
  }
  const numClasses = o.variant === 'cifar10' ? 10 : o.label === 'coarse' ? 20 : 100;
  const labelByte = o.variant === 'cifar100' && o.label === 'fine' ? 1 : 0;
  return new CifarDataset(name, parts, headerBytes, labelByte, numClasses);
}
