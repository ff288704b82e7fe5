import * as fs from 'fs';
import * as path from 'path';
import { ConfigReader } from '../config/reader';
import { UserError } from '../util/errors';
import { Batch, Dataset, ImageShape } from './dataset';
import { ByteSource, classCount, existingFile, openSource, readUint8Batch } from './bytes';

/**
 * IDX files (MNIST, Fashion-MNIST, KMNIST, ...): an images file (uint8, N x H x W
 * or N x H x W x C) and a labels file (uint8, N), raw or gzipped. Either
 * `images` + `labels` paths, or `dir` + `split` with the standard file names
 * (`train-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`, ...).
 */
export interface IdxOptions {
  images: string;
  labels?: string;
  num_classes?: number;
}

export function parseIdx(r: ConfigReader): IdxOptions {
  const dir = r.optionalString('dir');
  const split = r.oneOf('split', ['train', 'test'] as const, 'train');
  const images = r.optionalString('images');
  const labels = r.optionalString('labels');
  const num_classes = r.optionalNumber('num_classes', { integer: true, min: 1 });
  if (dir !== undefined) {
    if (images !== undefined || labels !== undefined) r.fail('dir', 'give either `dir` (+ `split`) or `images`/`labels` paths, not both');
    const prefix = split === 'train' ? 'train' : 't10k';
    const find = (base: string): string => {
      for (const cand of [base, `${base}.gz`]) if (fs.existsSync(path.join(dir, cand))) return path.join(dir, cand);
      return r.fail('dir', `${dir}: has no ${base} or ${base}.gz (the standard IDX file names for split "${split}")`);
    };
    return { images: find(`${prefix}-images-idx3-ubyte`), labels: find(`${prefix}-labels-idx1-ubyte`), num_classes };
  }
  if (images === undefined) r.fail('images', 'is required (or give `dir` and `split`)');
  return { images, labels, num_classes };
}

const TYPES: Record<number, string> = { 0x08: 'uint8', 0x09: 'int8', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

interface IdxHeader {
  dims: number[];
  dataOffset: number;
}

function readIdxHeader(src: ByteSource, kind: string): IdxHeader {
  if (src.size < 4) throw new UserError(`${src.file}: not an IDX ${kind} file: only ${src.size} bytes`);
  const magic = src.readSync(0, 4, 'IDX magic');
  if (magic[0] !== 0 || magic[1] !== 0 || TYPES[magic[2]] === undefined || magic[3] < 1 || magic[3] > 4) {
    throw new UserError(`${src.file}: not an IDX ${kind} file: bad magic number 0x${magic.toString('hex')} (expected 0x0000 08 0d with d = dimensions)`);
  }
  if (magic[2] !== 0x08) throw new UserError(`${src.file}: IDX element type ${TYPES[magic[2]]} is not supported (only uint8)`);
  const nd = magic[3];
  const hdr = src.readSync(4, 4 * nd, 'IDX dimensions');
  const dims = Array.from({ length: nd }, (_, i) => hdr.readUInt32BE(4 * i));
  return { dims, dataOffset: 4 + 4 * nd };
}

export class IdxDataset implements Dataset {
  readonly size: number;
  readonly shape: ImageShape;
  readonly numClasses: number;
  private readonly per: number;

  constructor(
    readonly name: string,
    private readonly src: ByteSource,
    private readonly offset: number,
    shape: ImageShape,
    size: number,
    private readonly y: Int32Array,
    numClasses: number,
  ) {
    this.shape = shape;
    this.size = size;
    this.numClasses = numClasses;
    this.per = shape[0] * shape[1] * shape[2];
  }

  async labels(): Promise<Int32Array> {
    return this.y;
  }

  read(indices: readonly number[]): Promise<Batch> {
    return readUint8Batch(this, this.y, indices, (idx) => this.src.read(this.offset + idx * this.per, this.per, `sample ${idx}`));
  }
}

export async function openIdx(name: string, o: IdxOptions): Promise<Dataset> {
  const src = openSource(existingFile(o.images, 'IDX images file'));
  const h = readIdxHeader(src, 'images');
  if (h.dims.length !== 3 && h.dims.length !== 4) {
    throw new UserError(`${o.images}: IDX images must have 3 (N, H, W) or 4 (N, H, W, C) dimensions, found ${h.dims.length} (${h.dims.join('x')})`);
  }
  const [n, hh, ww, cc = 1] = h.dims;
  const shape: ImageShape = [hh, ww, cc];
  const need = h.dataOffset + n * hh * ww * cc;
  if (src.size < need) {
    throw new UserError(`${o.images}: file is truncated: header promises ${n} images of ${shape.join('x')} (${need} bytes) but the file has ${src.size} bytes`);
  }
  let y = new Int32Array(n).fill(-1);
  let numClasses = 0;
  if (o.labels !== undefined) {
    const ls = openSource(existingFile(o.labels, 'IDX labels file'));
    const lh = readIdxHeader(ls, 'labels');
    if (lh.dims.length !== 1) throw new UserError(`${o.labels}: IDX labels must have 1 dimension, found ${lh.dims.length}`);
    if (lh.dims[0] !== n) {
      throw new UserError(`${o.labels}: has ${lh.dims[0]} labels but ${o.images} has ${n} images`);
    }
    const bytes = ls.readSync(lh.dataOffset, n, 'labels');
    ls.close();
    y = Int32Array.from(bytes);
    numClasses = o.num_classes ?? classCount(y);
    const bad = y.findIndex((v) => v >= numClasses);
    if (bad >= 0) throw new UserError(`${o.labels}: sample ${bad} has label ${y[bad]} but num_classes is ${numClasses}`);
  }
  return new IdxDataset(name, src, h.dataOffset, shape, n, y, numClasses);
}
