import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { UserError } from '../util/errors';
import { Batch, ImageShape, checkIndices } from './dataset';

/**
 * Random access to the bytes of one data file, either straight from disk with
 * positioned reads (large files are never loaded whole) or from memory (a
 * gunzipped or inflated file). Every error names the file.
 */
export interface ByteSource {
  readonly file: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`; a short read is a truncation error naming `what`. */
  read(offset: number, length: number, what?: string): Promise<Buffer>;
  /** The same, synchronously (small header reads). */
  readSync(offset: number, length: number, what?: string): Buffer;
  close(): void;
}

function truncated(file: string, offset: number, length: number, size: number, what?: string): UserError {
  return new UserError(
    `${file}: file is truncated: ${what ? `${what} needs` : 'needs'} bytes ${offset}..${offset + length} but the file has ${size} bytes`,
  );
}

/** Resolves a configured path (relative to the working directory) and checks that it exists and is a `kind`. */
function existingPath(p: string, kind: 'file' | 'directory', what: string): string {
  const abs = path.resolve(p);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new UserError(`${p}: ${what} not found`);
  }
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) {
    throw new UserError(`${p}: expected a ${what}, found ${kind === 'file' ? 'a directory or special file' : 'a file'}`);
  }
  return abs;
}

export function existingFile(p: string, what = 'file'): string {
  return existingPath(p, 'file', what);
}

export function existingDir(p: string, what = 'directory'): string {
  return existingPath(p, 'directory', what);
}

/** Positioned reads on an open file descriptor; fds are closed at process exit if never closed. */
export class FileSource implements ByteSource {
  private fd: number;
  readonly size: number;

  constructor(readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'r');
      this.size = fs.fstatSync(this.fd).size;
    } catch (e) {
      throw new UserError(`${file}: cannot open: ${(e as Error).message}`);
    }
  }

  readSync(offset: number, length: number, what?: string): Buffer {
    if (offset + length > this.size) throw truncated(this.file, offset, length, this.size, what);
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw truncated(this.file, offset, length, offset + done, what);
      done += n;
    }
    return buf;
  }

  read(offset: number, length: number, what?: string): Promise<Buffer> {
    if (offset + length > this.size) return Promise.reject(truncated(this.file, offset, length, this.size, what));
    const buf = Buffer.allocUnsafe(length);
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        fs.read(this.fd, buf, done, length - done, offset + done, (err, n) => {
          if (err) return reject(new UserError(`${this.file}: read error at byte ${offset + done}${what ? ` (${what})` : ''}: ${err.message}`));
          if (n === 0) return reject(truncated(this.file, offset, length, offset + done, what));
          if (done + n < length) return step(done + n);
          resolve(buf);
        });
      };
      step(0);
    });
  }

  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

export class MemorySource implements ByteSource {
  constructor(
    readonly file: string,
    private readonly buf: Buffer,
  ) {}

  get size(): number {
    return this.buf.length;
  }

  readSync(offset: number, length: number, what?: string): Buffer {
    if (offset + length > this.buf.length) throw truncated(this.file, offset, length, this.buf.length, what);
    return this.buf.subarray(offset, offset + length);
  }

  async read(offset: number, length: number, what?: string): Promise<Buffer> {
    return this.readSync(offset, length, what);
  }

  close(): void {}
}

/** Opens `file`; a `.gz` file is gunzipped into memory (the small MNIST-style files), others are read at offsets. */
export function openSource(file: string): ByteSource {
  if (!file.endsWith('.gz')) return new FileSource(file);
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return new MemorySource(file, zlib.gunzipSync(raw));
  } catch (e) {
    throw new UserError(`${file}: not a valid gzip file (corrupted or truncated): ${(e as Error).message}`);
  }
}

/** uint8 pixels to float32 in [0, 1]. */
export function bytesToUnit(src: Uint8Array, dst: Float32Array, dstOffset = 0): void {
  const k = 1 / 255;
  for (let i = 0; i < src.length; i++) dst[dstOffset + i] = src[i] * k;
}

/**
 * A batch of uint8 images (scaled to [0, 1]) fetched one sample at a time,
 * concurrently, by `fetch(idx)` (file reads at offsets, image decoding).
 */
export async function readUint8Batch(
  ds: { name: string; size: number; shape: ImageShape },
  labels: Int32Array,
  indices: readonly number[],
  fetch: (idx: number) => Promise<Uint8Array>,
): Promise<Batch> {
  checkIndices(ds.name, ds.size, indices);
  const per = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const x = new Float32Array(indices.length * per);
  const y = new Int32Array(indices.length);
  await Promise.all(
    indices.map(async (idx, i) => {
      bytesToUnit(await fetch(idx), x, i * per);
      y[i] = labels[idx];
    }),
  );
  return { x, y, n: indices.length, shape: ds.shape };
}

/** Number of distinct classes implied by labels (max + 1; 0 when all are -1). */
export function classCount(labels: Int32Array): number {
  let max = -1;
  for (const y of labels) if (y > max) max = y;
  return max + 1;
}
