import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import { ConfigReader, readYamlFile } from '../config/reader';
import { UserError } from '../util/errors';
import { extractTar, TarSummary } from './tar';
import { ensureDir } from '../io/atomic-write';

/**
 * Dataset presets (`datasets/NAME.yaml`): where a benchmark set comes from,
 * its checksum, how it unpacks and the config entry that reads it.
 */
export interface Preset {
  name: string;
  file: string;
  description: string;
  url: string;
  /** Official page, for sets that need a manual download (licence, login). */
  homepage?: string;
  md5?: string;
  sha256?: string;
  size_bytes?: number;
  /** The downloaded file's name. */
  archive: string;
  unpack: 'tar.gz' | 'tar' | 'none';
  /** Folder under the datasets root that it unpacks into. */
  dest: string;
  /** What the folder holds once fetched, for the user. */
  expects: string[];
  /** Data entries (`format:` ...) that read it, by role, e.g. {train: {...}, test: {...}}. */
  example?: unknown;
}

export function parsePreset(file: string): Preset {
  const raw = readYamlFile(file, 'dataset preset');
  ConfigReader.root(raw, file); // checks that it is a mapping
  // `expects` (a string list) and `example` (free-form data entries) are read here, the rest through the reader
  const { expects, example, ...rest } = raw as Record<string, unknown>;
  const r = ConfigReader.root(rest, file);
  if (expects !== undefined && typeof expects !== 'string' && !(Array.isArray(expects) && expects.every((s) => typeof s === 'string'))) {
    throw new UserError(`${file}: expects: expected a string or a list of strings`);
  }
  const url = r.string('url');
  try {
    new URL(url);
  } catch {
    r.fail('url', `not a valid URL: "${url}"`);
  }
  const p: Preset = {
    name: r.string('name', path.basename(file, path.extname(file))),
    file,
    description: r.string('description', ''),
    url,
    homepage: r.optionalString('homepage'),
    md5: r.optionalString('md5')?.toLowerCase(),
    sha256: r.optionalString('sha256')?.toLowerCase(),
    size_bytes: r.optionalNumber('size_bytes', { integer: true, min: 0 }),
    archive: r.string('archive', decodeURIComponent(new URL(url).pathname.split('/').pop() || 'download')),
    unpack: r.oneOf('unpack', ['tar.gz', 'tar', 'none'] as const, 'none'),
    dest: r.string('dest'),
    expects: expects === undefined ? [] : typeof expects === 'string' ? [expects] : (expects as string[]),
    example,
  };
  if (p.md5 && !/^[0-9a-f]{32}$/.test(p.md5)) r.fail('md5', `expected 32 hex digits, got "${p.md5}"`);
  if (p.sha256 && !/^[0-9a-f]{64}$/.test(p.sha256)) r.fail('sha256', `expected 64 hex digits, got "${p.sha256}"`);
  if (p.dest.split(/[\\/]/).includes('..') || path.isAbsolute(p.dest)) r.fail('dest', 'must be a folder name under the datasets root');
  r.done();
  return p;
}

export function listPresets(dir: string): Preset[] {
  if (!fs.existsSync(dir)) throw new UserError(`${dir}: presets folder not found`);
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => parsePreset(path.join(dir, f)));
}

export function findPreset(dir: string, name: string): Preset {
  const all = listPresets(dir);
  const p = all.find((x) => x.name === name);
  if (!p) throw new UserError(`no dataset preset "${name}" in ${dir} (known: ${all.map((x) => x.name).join(', ') || 'none'})`);
  return p;
}

const OFFLINE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPROTO', 'CERT_HAS_EXPIRED']);

export interface DownloadResult {
  bytes: number;
  md5: string;
  sha256: string;
}

/** Downloads `url` to `file` (via `file.part`), following redirects, hashing on the way. */
export function download(url: string, file: string, opts: { timeoutMs?: number; progress?: (done: number, total?: number) => void; manual?: string } = {}): Promise<DownloadResult> {
  const part = `${file}.part`;
  ensureDir(path.dirname(file));
  const offline = (u: string, e: NodeJS.ErrnoException): UserError =>
    new UserError(
      `cannot download ${u}: ${e.code ?? e.message}${e.code && OFFLINE_CODES.has(e.code) ? ' (no network access? this machine may be offline)' : ''}.${opts.manual ?? ''}`,
    );
  const get = (u: string, hops: number): Promise<DownloadResult> =>
    new Promise((resolve, reject) => {
      let parsed: URL;
      try {
        parsed = new URL(u);
      } catch {
        return reject(new UserError(`invalid URL: ${u}`));
      }
      const lib = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : undefined;
      if (!lib) return reject(new UserError(`unsupported URL scheme in ${u} (http or https)`));
      const req = lib.get(parsed, { headers: { 'user-agent': 'grodd-datasets-fetch' } }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          if (hops >= 8) return reject(new UserError(`cannot download ${url}: too many redirects`));
          return resolve(get(new URL(res.headers.location, u).toString(), hops + 1));
        }
        if (status !== 200) {
          res.resume();
          return reject(new UserError(`cannot download ${u}: HTTP ${status} ${res.statusMessage ?? ''}`.trim() + `.${opts.manual ?? ''}`));
        }
        const total = Number(res.headers['content-length']) || undefined;
        const md5 = crypto.createHash('md5');
        const sha = crypto.createHash('sha256');
        const out = fs.createWriteStream(part);
        let done = 0;
        res.on('data', (c: Buffer) => {
          md5.update(c);
          sha.update(c);
          done += c.length;
          opts.progress?.(done, total);
        });
        res.on('error', (e) => reject(offline(u, e)));
        res.on('aborted', () => reject(new UserError(`cannot download ${u}: the connection closed after ${done} bytes`)));
        out.on('error', (e) => reject(new UserError(`${part}: cannot write: ${e.message}`)));
        res.pipe(out);
        out.on('finish', () => {
          if (total !== undefined && done !== total) return reject(new UserError(`cannot download ${u}: got ${done} of ${total} bytes (connection dropped)`));
          fs.renameSync(part, file);
          resolve({ bytes: done, md5: md5.digest('hex'), sha256: sha.digest('hex') });
        });
      });
      req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => reject(offline(u, e)));
    });
  return get(url, 0).catch((e) => {
    fs.rmSync(part, { force: true });
    throw e;
  });
}

export function hashFile(file: string): Promise<DownloadResult> {
  return new Promise((resolve, reject) => {
    const md5 = crypto.createHash('md5');
    const sha = crypto.createHash('sha256');
    let bytes = 0;
    fs.createReadStream(file)
      .on('data', (c) => {
        const b = c as Buffer;
        md5.update(b);
        sha.update(b);
        bytes += b.length;
      })
      .on('error', reject)
      .on('end', () => resolve({ bytes, md5: md5.digest('hex'), sha256: sha.digest('hex') }));
  });
}

/** The checksum mismatch (or undefined when it matches / there is none to check). */
function checksumProblem(p: Preset, got: DownloadResult): string | undefined {
  if (p.sha256 && got.sha256 !== p.sha256) return `sha256 ${got.sha256}, expected ${p.sha256}`;
  if (p.md5 && got.md5 !== p.md5) return `md5 ${got.md5}, expected ${p.md5}`;
  return undefined;
}

export interface FetchOptions {
  /** The datasets root (default `datasets`). */
  root: string;
  /** Download from here instead of the preset's URL (a mirror, or a test server). */
  url?: string;
  /** Keep the downloaded archive after unpacking. */
  keep?: boolean;
  force?: boolean;
  log?: (line: string) => void;
  progress?: (done: number, total?: number) => void;
  timeoutMs?: number;
}

export interface FetchResult {
  dir: string;
  downloaded: boolean;
  bytes: number;
  unpacked?: TarSummary;
}

/** Downloads a preset's file, verifies its checksum and unpacks it under `root/dest`. */
export async function fetchPreset(p: Preset, o: FetchOptions): Promise<FetchResult> {
  const log = o.log ?? (() => undefined);
  const dir = path.resolve(o.root, p.dest);
  const marker = path.join(dir, '.grodd-fetched.json');
  if (fs.existsSync(marker) && !o.force) {
    log(`${p.name}: already fetched into ${dir} (use --force to fetch again)`);
    return { dir, downloaded: false, bytes: 0 };
  }
  const url = o.url ?? p.url;
  const downloads = path.resolve(o.root, '.downloads');
  const archive = path.join(downloads, p.archive);
  const checksum = p.sha256 ? `sha256 ${p.sha256}` : p.md5 ? `md5 ${p.md5}` : 'no published checksum';
  const manual = ` Download it by hand from ${url}${p.homepage ? ` (see ${p.homepage})` : ''}, check its ${checksum}, and put it at ${archive}; then run this command again.`;
  let got: DownloadResult | undefined;
  let downloaded = false;
  if (fs.existsSync(archive)) {
    log(`${p.name}: checking the existing ${archive}`);
    got = await hashFile(archive);
    const bad = checksumProblem(p, got);
    if (bad) {
      log(`${p.name}: existing file has ${bad}; downloading again`);
      got = undefined;
    }
  }
  if (!got) {
    log(`${p.name}: downloading ${url}`);
    got = await download(url, archive, { progress: o.progress, timeoutMs: o.timeoutMs, manual });
    downloaded = true;
    const bad = checksumProblem(p, got);
    if (bad) {
      fs.rmSync(archive, { force: true });
      throw new UserError(`${url}: checksum mismatch: the download ${archive} (${got.bytes} bytes) has ${bad}; it was deleted. The file may be damaged or changed upstream.`);
    }
  }
  if (!p.md5 && !p.sha256) log(`${p.name}: warning: the preset has no checksum; the download (${got.bytes} bytes, sha256 ${got.sha256}) is not verified`);
  ensureDir(dir);
  let unpacked: TarSummary | undefined;
  if (p.unpack === 'none') {
    fs.copyFileSync(archive, path.join(dir, p.archive));
    if (!o.keep) fs.rmSync(archive);
  } else {
    log(`${p.name}: unpacking into ${dir}`);
    const named = p.unpack === 'tar.gz' && !/\.(tar\.gz|tgz)$/i.test(archive) ? `${archive}.tar.gz` : archive;
    if (named !== archive) fs.renameSync(archive, named);
    unpacked = await extractTar(named, dir);
    if (unpacked.skipped.length) log(`${p.name}: skipped ${unpacked.skipped.length} link/special entries`);
    if (!o.keep) fs.rmSync(named);
  }
  fs.writeFileSync(marker, JSON.stringify({ name: p.name, url, bytes: got.bytes, md5: got.md5, sha256: got.sha256, fetched: new Date().toISOString() }, null, 2) + '\n');
  log(`${p.name}: done (${got.bytes} bytes${unpacked ? `, ${unpacked.files} files` : ''}) in ${dir}`);
  return { dir, downloaded, bytes: got.bytes, unpacked };
}
