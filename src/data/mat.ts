import * as zlib from 'zlib';
import { ConfigReader } from '../config/reader';
import { UserError } from '../util/errors';
import { Batch, Dataset, ImageShape, checkIndices } from './dataset';
import { ByteSource, classCount, existingFile, FileSource, MemorySource } from './bytes';

/**
 * MATLAB v5 .mat files holding an image array, as SVHN's `train_32x32.mat` /
 * `test_32x32.mat`: `X` is uint8 H x W x C x N (or H x W x N) in MATLAB's
 * column-major order, `y` is N x 1 with label 10 meaning digit 0.
 * Plain (uncompressed) variables are read at offsets; a zlib-compressed one
 * (miCOMPRESSED, as `save -v7` writes) is inflated into memory when opened.
 */
export interface MatOptions {
  path: string;
  images_var: string;
  labels_var?: string;
  /** Map label 10 to 0 (SVHN's convention for the digit 0). */
  ten_is_zero: boolean;
  /** Classes of a labelled set; default: the largest label + 1 (a subset lacking the top class would get one class too few). */
  num_classes?: number;
}

export function parseMat(r: ConfigReader): MatOptions {
  const images_var = r.string('images_var', 'X');
  const labelsRaw = r.string('labels_var', 'y');
  return {
    path: r.string('path'),
    images_var,
    labels_var: labelsRaw === '' ? undefined : labelsRaw,
    ten_is_zero: r.boolean('ten_is_zero', true),
    num_classes: r.optionalNumber('num_classes', { integer: true, min: 1 }),
  };
}

const MI = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15 };
const ELEMENT_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8 };
const NUMERIC_CLASSES = new Set([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]); // mxDOUBLE .. mxUINT64

interface Tag {
  type: number;
  nbytes: number;
  /** Offset of the element's data. */
  data: number;
  /** Offset of the next element. */
  next: number;
}

/** A numeric variable found in the file: where its real part lives and how it is stored. */
export interface MatVariable {
  name: string;
  dims: number[];
  mxClass: number;
  complex: boolean;
  dataType: number;
  dataOffset: number;
  dataBytes: number;
  src: ByteSource;
}

function readTag(src: ByteSource, off: number, le: boolean, what: string): Tag {
  const b = src.readSync(off, 8, what);
  const first = le ? b.readUInt32LE(0) : b.readUInt32BE(0);
  if (first >>> 16 !== 0) {
    // small data element: 2 bytes size, 2 bytes type, data in the next 4 bytes
    const nbytes = le ? first >>> 16 : first & 0xffff;
    const type = le ? first & 0xffff : first >>> 16;
    return { type, nbytes, data: off + 4, next: off + 8 };
  }
  const nbytes = le ? b.readUInt32LE(4) : b.readUInt32BE(4);
  return { type: first, nbytes, data: off + 8, next: off + 8 + nbytes + ((8 - (nbytes % 8)) % 8) };
}

function readInts(src: ByteSource, t: Tag, le: boolean, what: string): number[] {
  const size = ELEMENT_SIZE[t.type];
  if (t.type !== MI.INT32 && t.type !== MI.UINT32) throw new UserError(`${src.file}: malformed .mat file: ${what} has element type ${t.type}`);
  const b = src.readSync(t.data, t.nbytes, what);
  return Array.from({ length: t.nbytes / size }, (_, i) => (le ? b.readInt32LE(4 * i) : b.readInt32BE(4 * i)));
}

/** Parses the header of a miMATRIX element whose data starts at `start`; returns undefined for non-numeric classes. */
function parseMatrix(src: ByteSource, start: number, end: number, le: boolean): MatVariable | undefined {
  if (start === end) return undefined; // empty matrix
  const flagsTag = readTag(src, start, le, 'array flags');
  const flags = readInts(src, flagsTag, le, 'array flags');
  const mxClass = flags[0] & 0xff;
  const complex = (flags[0] & 0x800) !== 0;
  const dimsTag = readTag(src, flagsTag.next, le, 'dimensions');
  const dims = readInts(src, dimsTag, le, 'dimensions');
  const nameTag = readTag(src, dimsTag.next, le, 'array name');
  const name = src.readSync(nameTag.data, nameTag.nbytes, 'array name').toString('latin1');
  if (!NUMERIC_CLASSES.has(mxClass)) return { name, dims, mxClass, complex, dataType: 0, dataOffset: 0, dataBytes: 0, src };
  const pr = readTag(src, nameTag.next, le, `data of ${name}`);
  if (ELEMENT_SIZE[pr.type] === undefined) throw new UserError(`${src.file}: malformed .mat file: variable ${name} has data element type ${pr.type}`);
  if (pr.data + pr.nbytes > end) throw new UserError(`${src.file}: malformed .mat file: variable ${name} overruns its element`);
  return { name, dims, mxClass, complex, dataType: pr.type, dataOffset: pr.data, dataBytes: pr.nbytes, src };
}

/** Lists the variables of a v5 .mat file and locates the `wanted` ones (inflating compressed ones only if wanted). */
export function scanMat(file: string, wanted: string[]): { endian: 'le' | 'be'; vars: Map<string, MatVariable>; names: string[] } {
  const src = new FileSource(file);
  if (src.size < 128) throw new UserError(`${file}: not a MATLAB v5 .mat file: only ${src.size} bytes`);
  const head = src.readSync(0, 128, 'header');
  const text = head.toString('latin1', 0, 116);
  const ind = head.toString('latin1', 126, 128);
  if (text.includes('MATLAB 7.3') || (src.size >= 516 && src.readSync(512, 4, 'header').toString('latin1') === '\x89HDF')) {
    throw new UserError(`${file}: this is a MATLAB v7.3 (HDF5) file, which grodd does not read; re-save it with save(..., '-v7')`);
  }
  if (!text.startsWith('MATLAB') || (ind !== 'IM' && ind !== 'MI')) {
    throw new UserError(`${file}: not a MATLAB v5 .mat file (bad header)`);
  }
  const le = ind === 'IM';
  const vars = new Map<string, MatVariable>();
  const names: string[] = [];
  let off = 128;
  while (off + 8 <= src.size) {
    const t = readTag(src, off, le, 'element tag');
    if (t.type === MI.MATRIX) {
      if (t.data + t.nbytes > src.size) throw new UserError(`${file}: file is truncated: element at byte ${off} needs ${t.nbytes} bytes, the file has ${src.size - t.data} left`);
      const v = parseMatrix(src, t.data, t.data + t.nbytes, le);
      if (v) {
        names.push(v.name);
        if (wanted.includes(v.name)) vars.set(v.name, v);
      }
    } else if (t.type === MI.COMPRESSED) {
      const next = t.data + t.nbytes;
      if (next > src.size) throw new UserError(`${file}: file is truncated: compressed element at byte ${off} needs ${t.nbytes} bytes, the file has ${src.size - t.data} left`);
      const comp = src.readSync(t.data, t.nbytes, 'compressed element');
      let peek: Buffer;
      try {
        peek = zlib.inflateSync(comp.subarray(0, Math.min(comp.length, 4096)), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch (e) {
        throw new UserError(`${file}: corrupted compressed element at byte ${off}: ${(e as Error).message}`);
      }
      const peekSrc = new MemorySource(`${file} (compressed element at byte ${off})`, peek);
      let name: string | undefined;
      try {
        const inner = readTag(peekSrc, 0, le, 'element tag');
        if (inner.type === MI.MATRIX) name = parseMatrix(peekSrc, inner.data, inner.data + inner.nbytes, le)?.name;
      } catch {
        name = undefined; // header did not fit in the peek; inflate whole below
      }
      if (name !== undefined) names.push(name);
      if (name === undefined || wanted.includes(name)) {
        let full: Buffer;
        try {
          full = zlib.inflateSync(comp);
        } catch (e) {
          throw new UserError(`${file}: corrupted compressed element at byte ${off}: ${(e as Error).message}`);
        }
        const mem = new MemorySource(`${file} (compressed element at byte ${off})`, full);
        const inner = readTag(mem, 0, le, 'element tag');
        if (inner.type === MI.MATRIX) {
          if (inner.data + inner.nbytes > mem.size) throw new UserError(`${file}: corrupted compressed element at byte ${off}: inflated data is short`);
          const v = parseMatrix(mem, inner.data, inner.data + inner.nbytes, le);
          if (v) {
            if (name === undefined) names.push(v.name);
            if (wanted.includes(v.name)) vars.set(v.name, { ...v, src: mem });
          }
        }
      }
      off = next;
      continue;
    }
    off = t.next;
  }
  return { endian: le ? 'le' : 'be', vars, names };
}

function decodeAll(v: MatVariable, le: boolean, buf: Buffer, count: number, put: (i: number, x: number) => void): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const s = ELEMENT_SIZE[v.dataType];
  for (let i = 0; i < count; i++) {
    const o = i * s;
    let x: number;
    switch (v.dataType) {
      case MI.INT8: x = dv.getInt8(o); break;
      case MI.UINT8: x = buf[o]; break;
      case MI.INT16: x = dv.getInt16(o, le); break;
      case MI.UINT16: x = dv.getUint16(o, le); break;
      case MI.INT32: x = dv.getInt32(o, le); break;
      case MI.UINT32: x = dv.getUint32(o, le); break;
      case MI.SINGLE: x = dv.getFloat32(o, le); break;
      case MI.DOUBLE: x = dv.getFloat64(o, le); break;
      case MI.INT64: x = Number(dv.getBigInt64(o, le)); break;
      default: x = Number(dv.getBigUint64(o, le)); break;
    }
    put(i, x);
  }
}

export class MatDataset implements Dataset {
  readonly size: number;
  readonly shape: ImageShape;
  private readonly per: number;

  constructor(
    readonly name: string,
    private readonly x: MatVariable,
    private readonly le: boolean,
    private readonly y: Int32Array,
    readonly numClasses: number,
  ) {
    const d = x.dims;
    const [hh, ww, cc, n] = d.length === 3 ? [d[0], d[1], 1, d[2]] : [d[0], d[1], d[2], d[3]];
    this.shape = [hh, ww, cc];
    this.size = n;
    this.per = hh * ww * cc;
  }

  async labels(): Promise<Int32Array> {
    return this.y;
  }

  async read(indices: readonly number[]): Promise<Batch> {
    checkIndices(this.name, this.size, indices);
    const [hh, ww, cc] = this.shape;
    const per = this.per;
    const es = ELEMENT_SIZE[this.x.dataType];
    const scale = this.x.dataType === MI.SINGLE || this.x.dataType === MI.DOUBLE ? 1 : 1 / 255;
    const out = new Float32Array(indices.length * per);
    const y = new Int32Array(indices.length);
    await Promise.all(
      indices.map(async (idx, i) => {
        const buf = await this.x.src.read(this.x.dataOffset + idx * per * es, per * es, `sample ${idx}`);
        const o = i * per;
        // MATLAB column-major within a sample: q = h + H*(w + W*c)  ->  NHWC (h*W + w)*C + c
        const put = (q: number, v: number): void => {
          const h = q % hh;
          const r = (q - h) / hh;
          const w = r % ww;
          const c = (r - w) / ww;
          out[o + (h * ww + w) * cc + c] = v * scale;
        };
        if (this.x.dataType === MI.UINT8) for (let q = 0; q < per; q++) put(q, buf[q]);
        else decodeAll(this.x, this.le, buf, per, put);
        y[i] = this.y[idx];
      }),
    );
    return { x: out, y, n: indices.length, shape: this.shape };
  }
}

export async function openMat(name: string, o: MatOptions): Promise<Dataset> {
  const file = existingFile(o.path, '.mat file');
  const wanted = [o.images_var, ...(o.labels_var ? [o.labels_var] : [])];
  const { endian, vars, names } = scanMat(file, wanted);
  const le = endian === 'le';
  const x = vars.get(o.images_var);
  if (!x) throw new UserError(`${o.path}: has no numeric variable "${o.images_var}" (variables: ${names.join(', ') || 'none'})`);
  if (x.complex) throw new UserError(`${o.path}: variable ${x.name} is complex`);
  if (x.dims.length !== 3 && x.dims.length !== 4) {
    throw new UserError(`${o.path}: variable ${x.name} must be H x W x C x N or H x W x N, found ${x.dims.join(' x ')}`);
  }
  const count = x.dims.reduce((a, b) => a * b, 1);
  const es = ELEMENT_SIZE[x.dataType];
  if (x.dataBytes < count * es) {
    throw new UserError(`${o.path}: variable ${x.name} (${x.dims.join(' x ')}) has only ${x.dataBytes} of ${count * es} data bytes (truncated or corrupted)`);
  }
  if (x.src.size < x.dataOffset + count * es) {
    throw new UserError(`${o.path}: file is truncated: variable ${x.name} needs ${count * es} bytes from byte ${x.dataOffset}, the file has ${x.src.size}`);
  }
  const n = x.dims[x.dims.length - 1];
  let y = new Int32Array(n).fill(-1);
  let numClasses = 0;
  if (o.labels_var) {
    const lv = vars.get(o.labels_var);
    if (!lv) throw new UserError(`${o.path}: has no numeric variable "${o.labels_var}" (variables: ${names.join(', ') || 'none'}); set labels_var: "" for an unlabelled set`);
    const ln = lv.dims.reduce((a, b) => a * b, 1);
    if (lv.dims.filter((d) => d !== 1).length > 1) throw new UserError(`${o.path}: labels ${lv.name} must be a vector, found ${lv.dims.join(' x ')}`);
    if (ln !== n) throw new UserError(`${o.path}: has ${ln} labels in ${lv.name} but ${n} images in ${x.name}`);
    const les = ELEMENT_SIZE[lv.dataType];
    const buf = lv.src.readSync(lv.dataOffset, ln * les, `labels ${lv.name}`);
    y = new Int32Array(n);
    let bad = -1;
    decodeAll(lv, le, buf, n, (i, v) => {
      if (!Number.isInteger(v) || v < 0) bad = bad < 0 ? i : bad;
      y[i] = o.ten_is_zero && v === 10 ? 0 : v;
    });
    if (bad >= 0) throw new UserError(`${o.path}: sample ${bad} has an invalid label in ${lv.name}`);
    numClasses = o.num_classes ?? classCount(y);
    const over = y.findIndex((v) => v >= numClasses);
    if (over >= 0) throw new UserError(`${o.path}: sample ${over} has label ${y[over]} but num_classes is ${numClasses}`);
  }
  return new MatDataset(name, x, le, y, numClasses);
}
