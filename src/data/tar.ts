import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { UserError } from '../util/errors';
import { ensureDir } from '../io/atomic-write';

/**
 * A streaming reader of tar archives (POSIX ustar, with the GNU long-name and
 * pax `path` extensions), enough to unpack the official dataset archives
 * without a dependency. Regular files and directories are written under
 * `dest`; links and special files are skipped and counted. Entry names that
 * would escape `dest` (absolute, `..`) are refused.
 */
export interface TarSummary {
  files: number;
  dirs: number;
  bytes: number;
  skipped: string[];
}

const BLOCK = 512;

function field(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString('utf8', off, end >= 0 && end < off + len ? end : off + len);
}

function octal(h: Buffer, off: number, len: number): number {
  if (h[off] & 0x80) {
    // GNU base-256 for large sizes
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + h[i];
    return v;
  }
  const s = field(h, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function safeJoin(dest: string, name: string, archive: string): string {
  const clean = name.replace(/\\/g, '/');
  if (clean.startsWith('/') || /^[A-Za-z]:/.test(clean) || clean.split('/').includes('..')) {
    throw new UserError(`${archive}: refusing to unpack entry "${name}": it would be written outside ${dest}`);
  }
  return path.join(dest, clean);
}

class TarExtractor {
  private buf: Buffer = Buffer.alloc(0);
  private entry?: { target: string | null; remaining: number; padding: number; fd: number | null; meta?: 'L' | 'x'; metaChunks: Buffer[] };
  private longName?: string;
  private paxPath?: string;
  private offset = 0;
  private ended = false;
  readonly summary: TarSummary = { files: 0, dirs: 0, bytes: 0, skipped: [] };

  constructor(
    private readonly dest: string,
    private readonly archive: string,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let pos = 0;
    while (!this.ended) {
      if (this.entry) {
        const e = this.entry;
        if (e.remaining > 0) {
          const n = Math.min(e.remaining, this.buf.length - pos);
          if (n === 0) break;
          const part = this.buf.subarray(pos, pos + n);
          if (e.fd !== null) fs.writeSync(e.fd, part);
          else if (e.meta) e.metaChunks.push(Buffer.from(part));
          e.remaining -= n;
          pos += n;
          this.offset += n;
          if (e.remaining > 0) break;
        }
        if (this.buf.length - pos < e.padding) {
          e.padding -= this.buf.length - pos;
          this.offset += this.buf.length - pos;
          pos = this.buf.length;
          break;
        }
        pos += e.padding;
        this.offset += e.padding;
        this.finishEntry();
        continue;
      }
      if (this.buf.length - pos < BLOCK) break;
      const h = this.buf.subarray(pos, pos + BLOCK);
      pos += BLOCK;
      this.header(h);
      this.offset += BLOCK;
    }
    this.buf = this.buf.subarray(pos);
  }

  private finishEntry(): void {
    const e = this.entry!;
    if (e.fd !== null) fs.closeSync(e.fd);
    if (e.meta === 'L') this.longName = Buffer.concat(e.metaChunks).toString('utf8').replace(/\0+$/, '');
    if (e.meta === 'x') {
      const text = Buffer.concat(e.metaChunks).toString('utf8');
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text);
      if (m) this.paxPath = m[1];
    }
    this.entry = undefined;
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.ended = true; // end-of-archive marker (a second zero block may follow)
      return;
    }
    const stored = octal(h, 148, 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    if (sum !== stored) throw new UserError(`${this.archive}: corrupted tar header at byte ${this.offset} (checksum mismatch); the archive is damaged`);
    const type = String.fromCharCode(h[156] || 0x30);
    const size = octal(h, 124, 12);
    let name = field(h, 0, 100);
    if (field(h, 257, 6).startsWith('ustar')) {
      const prefix = field(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (this.paxPath !== undefined && type !== 'x' && type !== 'g') [name, this.paxPath] = [this.paxPath, undefined];
    if (this.longName !== undefined && type !== 'L') [name, this.longName] = [this.longName, undefined];
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    const entry = { target: null as string | null, remaining: size, padding, fd: null as number | null, meta: undefined as 'L' | 'x' | undefined, metaChunks: [] as Buffer[] };
    if (type === 'L' || type === 'x') entry.meta = type;
    else if (type === '0' || type === '7') {
      const target = safeJoin(this.dest, name, this.archive);
      ensureDir(path.dirname(target));
      entry.target = target;
      entry.fd = fs.openSync(target, 'w');
      this.summary.files++;
      this.summary.bytes += size;
    } else if (type === '5') {
      ensureDir(safeJoin(this.dest, name, this.archive));
      this.summary.dirs++;
    } else if (type !== 'g') {
      this.summary.skipped.push(`${name} (type ${type})`);
    }
    this.entry = entry;
    if (size === 0 && padding === 0) this.finishEntry();
  }

  end(): void {
    if (this.entry) {
      if (this.entry.fd !== null) fs.closeSync(this.entry.fd);
      throw new UserError(`${this.archive}: archive is truncated (ends inside entry data at byte ${this.offset})`);
    }
    if (!this.ended && this.buf.length > 0) throw new UserError(`${this.archive}: archive is truncated (a partial header at byte ${this.offset})`);
  }
}

/** Unpacks a .tar, .tar.gz or .tgz archive into `dest`. */
export async function extractTar(archive: string, dest: string): Promise<TarSummary> {
  ensureDir(dest);
  const gz = /\.(tar\.gz|tgz)$/i.test(archive);
  const tx = new TarExtractor(path.resolve(dest), archive);
  const input = fs.createReadStream(archive);
  const stream = gz ? input.pipe(zlib.createGunzip()) : input;
  input.on('error', (e) => stream.destroy(e));
  try {
    for await (const chunk of stream) tx.push(chunk as Buffer);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${archive}: cannot unpack: ${(e as Error).message}`);
  }
  tx.end();
  return tx.summary;
}
