// Writers of small data files in the formats grodd reads, for the data tests and the benchmark.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `grodd-${tag}-`));
}

/** A deterministic pixel value for sample n at (h, w, c). */
export function pix(n: number, h: number, w: number, c: number): number {
  return (n * 7 + h * 13 + w * 3 + c * 50) % 256;
}

/** NHWC uint8 pixels of `count` samples of h x w x c, from `pix`. */
export function pixelsNHWC(count: number, h: number, w: number, c: number): Uint8Array {
  const out = new Uint8Array(count * h * w * c);
  let q = 0;
  for (let n = 0; n < count; n++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let k = 0; k < c; k++) out[q++] = pix(n, i, j, k);
  return out;
}

export function writeIdx(file: string, dims: number[], data: Uint8Array, gzip = file.endsWith('.gz')): void {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  const buf = Buffer.concat([head, Buffer.from(data)]);
  fs.writeFileSync(file, gzip ? zlib.gzipSync(buf) : buf);
}

/** A .npy file; `data` holds the raw element bytes in C order (or whatever `fortran` claims). */
export function npyBytes(descr: string, shape: number[], data: Buffer, version = 1, fortran = false): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = version === 1 ? 10 : 12;
  let header = dict;
  const total = pre + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = Buffer.alloc(pre + header.length);
  out[0] = 0x93;
  out.write('NUMPY', 1, 'latin1');
  out[6] = version;
  out[7] = 0;
  if (version === 1) out.writeUInt16LE(header.length, 8);
  else out.writeUInt32LE(header.length, 8);
  out.write(header, pre, 'latin1');
  return Buffer.concat([out, data]);
}

export function writeNpy(file: string, descr: string, shape: number[], data: Buffer, version = 1, fortran = false): void {
  fs.writeFileSync(file, npyBytes(descr, shape, data, version, fortran));
}

export function int64Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), 8 * i));
  return b;
}

export function float32Bytes(values: ArrayLike<number>): Buffer {
  return Buffer.from(Float32Array.from(values).buffer);
}

export function float64Bytes(values: ArrayLike<number>): Buffer {
  return Buffer.from(Float64Array.from(values).buffer);
}

// ---- CIFAR binary ----

/** One CIFAR record: label byte(s) then 1024 R, 1024 G, 1024 B bytes of image n (pixels from `pix`). */
export function cifarRecord(n: number, labels: number[]): Buffer {
  const b = Buffer.alloc(labels.length + 3072);
  labels.forEach((l, i) => (b[i] = l));
  for (let c = 0; c < 3; c++) for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) b[labels.length + c * 1024 + i * 32 + j] = pix(n, i, j, c);
  return b;
}

// ---- MATLAB v5 ----

export interface MatVar {
  name: string;
  dims: number[];
  /** mxCLASS: 6 double, 9 uint8 */
  mxClass: number;
  /** miTYPE of the stored data: 2 uint8, 9 double */
  miType: number;
  data: Buffer;
}

function pad8(b: Buffer): Buffer {
  const p = (8 - (b.length % 8)) % 8;
  return p ? Buffer.concat([b, Buffer.alloc(p)]) : b;
}

function tag(type: number, nbytes: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(nbytes, 4);
  return b;
}

function element(type: number, data: Buffer): Buffer {
  if (data.length <= 4 && type !== 14) {
    // small data element format
    const b = Buffer.alloc(8);
    b.writeUInt16LE(type, 0);
    b.writeUInt16LE(data.length, 2);
    data.copy(b, 4);
    return b;
  }
  return Buffer.concat([tag(type, data.length), pad8(data)]);
}

export function matMatrix(v: MatVar): Buffer {
  const flags = Buffer.alloc(8);
  flags.writeUInt32LE(v.mxClass, 0);
  const dims = Buffer.alloc(4 * v.dims.length);
  v.dims.forEach((d, i) => dims.writeInt32LE(d, 4 * i));
  const body = Buffer.concat([element(6, flags), element(5, dims), element(1, Buffer.from(v.name, 'latin1')), element(v.miType, v.data)]);
  return Buffer.concat([tag(14, body.length), body]);
}

export function matFile(vars: MatVar[], compress: boolean): Buffer {
  const head = Buffer.alloc(128, 0x20);
  head.write('MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: grodd test', 0, 'latin1');
  head.fill(0, 116, 124);
  head.writeUInt16LE(0x0100, 124);
  head.write('IM', 126, 'latin1');
  const parts = vars.map((v) => {
    const m = matMatrix(v);
    if (!compress) return m;
    const z = zlib.deflateSync(m);
    return Buffer.concat([tag(15, z.length), z]);
  });
  return Buffer.concat([head, ...parts]);
}

/** SVHN-like X (H x W x C x N uint8, column-major) from `pix`, and y (N x 1 double) with 10 for digit 0. */
export function svhnVars(n: number, labels: number[], side = 32): MatVar[] {
  const x = Buffer.alloc(side * side * 3 * n);
  for (let s = 0; s < n; s++) for (let c = 0; c < 3; c++) for (let w = 0; w < side; w++) for (let h = 0; h < side; h++) x[h + side * (w + side * (c + 3 * s))] = pix(s, h, w, c);
  return [
    { name: 'X', dims: [side, side, 3, n], mxClass: 9, miType: 2, data: x },
    { name: 'y', dims: [n, 1], mxClass: 6, miType: 9, data: float64Bytes(labels) },
  ];
}

// ---- tar (ustar) ----

export function tarEntry(name: string, data: Buffer | null): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write(data ? '0000644\0' : '0000755\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(((data?.length ?? 0).toString(8).padStart(11, '0')) + '\0', 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(data ? '0' : '5', 156, 'latin1');
  h.write('ustar\0' + '00', 257, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  if (!data) return h;
  return Buffer.concat([h, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

export function tarGz(entries: [string, Buffer | null][]): Buffer {
  return zlib.gzipSync(Buffer.concat([...entries.map(([n, d]) => tarEntry(n, d)), Buffer.alloc(1024)]));
}
