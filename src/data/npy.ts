import { ConfigReader } from '../config/reader';
import { UserError } from '../util/errors';
import { Batch, Dataset, ImageShape, checkIndices } from './dataset';
import { classCount, existingFile, FileSource } from './bytes';

/**
 * NumPy `.npy` arrays (format versions 1, 2, 3), e.g. the 300K Random Images
 * auxiliary set (300000 x 32 x 32 x 3 uint8, 921 MB). Samples are read with
 * positioned reads, so the file is never loaded whole.
 * Images: uint8 (scaled by 1/255), float32 or float64 (taken as already in [0, 1]),
 * N x H x W x C (`layout: nhwc`), N x C x H x W (`layout: nchw`) or N x H x W (one channel).
 * Labels (optional): a separate 1-D integer .npy of the same length.
 */
export interface NpyOptions {
  path: string;
  labels?: string;
  /** Absent: nhwc, unless the shape looks channels-first (then the reader asks for an explicit layout). */
  layout?: 'nhwc' | 'nchw';
  num_classes?: number;
}

export function parseNpy(r: ConfigReader): NpyOptions {
  return {
    path: r.string('path'),
    labels: r.optionalString('labels'),
    layout: r.optionalOneOf('layout', ['nhwc', 'nchw'] as const),
    num_classes: r.optionalNumber('num_classes', { integer: true, min: 1 }),
  };
}

export type NpyKind = 'u1' | 'i1' | 'u2' | 'i2' | 'u4' | 'i4' | 'u8' | 'i8' | 'f4' | 'f8';

export interface NpyHeader {
  kind: NpyKind;
  littleEndian: boolean;
  itemSize: number;
  shape: number[];
  dataOffset: number;
  version: string;
}

const SIZES: Record<NpyKind, number> = { u1: 1, i1: 1, u2: 2, i2: 2, u4: 4, i4: 4, u8: 8, i8: 8, f4: 4, f8: 8 };

/** Parses the header of a .npy file; every problem is a UserError naming the file. */
export function readNpyHeader(src: FileSource): NpyHeader {
  const file = src.file;
  if (src.size < 10) throw new UserError(`${file}: not a .npy file: only ${src.size} bytes`);
  const pre = src.readSync(0, 10, 'npy magic');
  if (pre[0] !== 0x93 || pre.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new UserError(`${file}: not a .npy file: bad magic (expected \\x93NUMPY)`);
  }
  const major = pre[6];
  const minor = pre[7];
  let hlen: number;
  let start: number;
  if (major === 1) {
    hlen = pre.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    hlen = src.readSync(8, 4, 'npy header length').readUInt32LE(0);
    start = 12;
  } else {
    throw new UserError(`${file}: unsupported .npy format version ${major}.${minor} (supported: 1, 2, 3)`);
  }
  const header = src.readSync(start, hlen, 'npy header').toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new UserError(`${file}: malformed .npy header: ${JSON.stringify(header.trim())}`);
  }
  if (fortran === 'True') {
    throw new UserError(
      `${file}: the array is stored in Fortran (column-major) order, which grodd does not read; re-save it with numpy.save(path, numpy.ascontiguousarray(a))`,
    );
  }
  const m = /^([<>|=])([uif])(\d+)$/.exec(descr);
  const kind = m ? ((m[2] + m[3]) as NpyKind) : undefined;
  if (!m || kind === undefined || SIZES[kind] === undefined) {
    throw new UserError(`${file}: unsupported .npy dtype '${descr}' (supported: uint8/16/32/64, int8/16/32/64, float32, float64)`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new UserError(`${file}: malformed .npy shape (${shapeText})`);
  return { kind, littleEndian: m[1] !== '>', itemSize: SIZES[kind], shape, dataOffset: start + hlen, version: `${major}.${minor}` };
}

/** Decodes `count` elements of `h`'s dtype from `buf` into numbers written by `put`. */
function decode(h: NpyHeader, buf: Buffer, count: number, put: (i: number, v: number) => void): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const le = h.littleEndian;
  const s = h.itemSize;
  for (let i = 0; i < count; i++) {
    const o = i * s;
    let v: number;
    switch (h.kind) {
      case 'u1': v = buf[o]; break;
      case 'i1': v = dv.getInt8(o); break;
      case 'u2': v = dv.getUint16(o, le); break;
      case 'i2': v = dv.getInt16(o, le); break;
      case 'u4': v = dv.getUint32(o, le); break;
      case 'i4': v = dv.getInt32(o, le); break;
      case 'u8': v = Number(dv.getBigUint64(o, le)); break;
      case 'i8': v = Number(dv.getBigInt64(o, le)); break;
      case 'f4': v = dv.getFloat32(o, le); break;
      case 'f8': v = dv.getFloat64(o, le); break;
    }
    put(i, v);
  }
}

function checkSize(src: FileSource, h: NpyHeader): void {
  const need = h.dataOffset + h.shape.reduce((a, b) => a * b, 1) * h.itemSize;
  if (src.size < need) {
    throw new UserError(`${src.file}: file is truncated: its header promises shape (${h.shape.join(', ')}) of ${h.kind} (${need} bytes) but the file has ${src.size} bytes`);
  }
}

export class NpyDataset implements Dataset {
  readonly size: number;
  readonly shape: ImageShape;
  private readonly per: number;

  constructor(
    readonly name: string,
    private readonly src: FileSource,
    private readonly h: NpyHeader,
    private readonly nchw: boolean,
    private readonly y: Int32Array,
    readonly numClasses: number,
  ) {
    const [n, ...rest] = h.shape;
    let hh: number, ww: number, cc: number;
    if (rest.length === 2) [hh, ww, cc] = [rest[0], rest[1], 1];
    else if (nchw) [cc, hh, ww] = rest;
    else [hh, ww, cc] = rest;
    this.size = n;
    this.shape = [hh, ww, cc];
    this.per = hh * ww * cc;
  }

  async labels(): Promise<Int32Array> {
    return this.y;
  }

  async read(indices: readonly number[]): Promise<Batch> {
    checkIndices(this.name, this.size, indices);
    const per = this.per;
    const bytes = per * this.h.itemSize;
    const x = new Float32Array(indices.length * per);
    const y = new Int32Array(indices.length);
    const [hh, ww, cc] = this.shape;
    const plane = hh * ww;
    const scale = this.h.kind === 'f4' || this.h.kind === 'f8' ? 1 : this.h.kind === 'u1' ? 1 / 255 : 1;
    const transpose = this.nchw && cc > 1;
    await Promise.all(
      indices.map(async (idx, i) => {
        const buf = await this.src.read(this.h.dataOffset + idx * bytes, bytes, `sample ${idx}`);
        const o = i * per;
        if (!transpose && this.h.kind === 'u1') {
          for (let p = 0; p < per; p++) x[o + p] = buf[p] * scale;
        } else if (!transpose) {
          decode(this.h, buf, per, (p, v) => (x[o + p] = v * scale));
        } else {
          // source index c*plane + p  ->  destination p*cc + c
          decode(this.h, buf, per, (q, v) => {
            const c = (q / plane) | 0;
            x[o + (q - c * plane) * cc + c] = v * scale;
          });
        }
        y[i] = this.y[idx];
      }),
    );
    return { x, y, n: indices.length, shape: this.shape };
  }
}

export async function openNpy(name: string, o: NpyOptions): Promise<Dataset> {
  const src = new FileSource(existingFile(o.path, '.npy file'));
  const h = readNpyHeader(src);
  if (h.shape.length !== 3 && h.shape.length !== 4) {
    throw new UserError(`${o.path}: expected images of shape (N, H, W, C), (N, C, H, W) or (N, H, W); found shape (${h.shape.join(', ')})`);
  }
  if (h.kind !== 'u1' && h.kind !== 'f4' && h.kind !== 'f8') {
    throw new UserError(`${o.path}: image dtype ${h.kind} is not supported (uint8, float32 or float64)`);
  }
  checkSize(src, h);
  const [, d1, , d3] = h.shape;
  if (h.shape.length === 4 && o.layout === undefined && d1 <= 4 && d3 > 4) {
    throw new UserError(
      `${o.path}: shape (${h.shape.join(', ')}) looks channels-first (N, C, H, W: PyTorch's order), but the layout is the default nhwc, which would read ${d3} channels of ${d1}x${h.shape[2]} images; set layout: nchw (or layout: nhwc if that is really meant)`,
    );
  }
  const n = h.shape[0];
  let y = new Int32Array(n).fill(-1);
  let numClasses = 0;
  if (o.labels !== undefined) {
    const ls = new FileSource(existingFile(o.labels, 'labels .npy file'));
    const lh = readNpyHeader(ls);
    if (lh.shape.length !== 1 && !(lh.shape.length === 2 && lh.shape[1] === 1)) {
      throw new UserError(`${o.labels}: labels must be a 1-D array, found shape (${lh.shape.join(', ')})`);
    }
    if (lh.kind === 'f4' || lh.kind === 'f8') throw new UserError(`${o.labels}: labels must be integers, found dtype ${lh.kind}`);
    if (lh.shape[0] !== n) throw new UserError(`${o.labels}: has ${lh.shape[0]} labels but ${o.path} has ${n} images`);
    checkSize(ls, lh);
    const buf = ls.readSync(lh.dataOffset, n * lh.itemSize, 'labels');
    ls.close();
    y = new Int32Array(n);
    decode(lh, buf, n, (i, v) => (y[i] = v));
    const neg = y.findIndex((v) => v < 0);
    if (neg >= 0) throw new UserError(`${o.labels}: sample ${neg} has a negative label ${y[neg]}`);
    numClasses = o.num_classes ?? classCount(y);
    const bad = y.findIndex((v) => v >= numClasses);
    if (bad >= 0) throw new UserError(`${o.labels}: sample ${bad} has label ${y[bad]} but num_classes is ${numClasses}`);
  }
  return new NpyDataset(name, src, h, o.layout === 'nchw', y, numClasses);
}
