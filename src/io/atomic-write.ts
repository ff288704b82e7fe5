import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { UserError } from '../util/errors';

/** File-system errors that the user can fix, in words; anything else is a bug and keeps its stack. */
const WRITE_ERRORS: Record<string, string> = {
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'a parent path is not a directory',
  EISDIR: 'it is a directory',
  EEXIST: 'a file of that name is in the way',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  ENAMETOOLONG: 'the name is too long (at most 255 bytes per path component)',
};

/** A write the user can fix; `code` is the system's (ENOSPC: free space and retry). */
export class WriteError extends UserError {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }

  /** The disk (or quota) is full: freeing space and retrying fixes it. */
  get full(): boolean {
    return this.code === 'ENOSPC' || this.code === 'EDQUOT';
  }
}

/** `e` as a one-line WriteError about writing `file` when the user can fix it; otherwise `e` itself. */
export function writeError(file: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const reason = WRITE_ERRORS[code];
  return reason ? new WriteError(`${file}: cannot write: ${reason}`, code) : e;
}

/**
 * Creates directory `dir` and its missing parents, or checks that it exists. Unlike
 * `mkdirSync(dir, { recursive: true })`, which loops forever under /proc and reports a file in
 * the way as a bare EEXIST, every failure is one line naming the path at fault.
 */
export function ensureDir(dir: string): void {
  const missing: string[] = [];
  for (let cur = path.resolve(dir); ; cur = path.dirname(cur)) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw writeError(dir, e); // ENOTDIR: a file further up, found next
    }
    if (st) {
      if (!st.isDirectory()) throw new WriteError(`${dir}: cannot create this directory: ${cur} is ${st.isFile() ? 'a file' : 'not a directory'}`, 'ENOTDIR');
      break;
    }
    missing.unshift(cur);
    if (path.dirname(cur) === cur) break;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue; // made meanwhile by another process
      throw code === 'ENOENT' ? new WriteError(`${dir}: cannot create this directory: the file system does not allow it`, code) : writeError(dir, e);
    }
  }
}

/** A new temporary file name beside `file`: hidden, unique to this process and call (`.<name>.<pid>.<hex>.tmp`). */
export function tempBeside(file: string): string {
  return path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Temporary files being written; removed if the process exits mid-write (e.g. a second Ctrl-C). */
const pending = new Set<string>();
process.on('exit', () => {
  for (const tmp of pending) fs.rmSync(tmp, { force: true, recursive: true });
});

/**
 * Writes `data` to `file` so that readers see either the old file or the complete new one, never a
 * partial write (a crash mid-checkpoint must not destroy the previous checkpoint): the bytes go to a
 * temporary file in the same directory (rename is only atomic within one file system), are fsynced,
 * and the temporary file is renamed over `file`. On failure, or if the process exits meanwhile, the
 * temporary file is removed.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempBeside(file);
  let handle: fsp.FileHandle | undefined;
  pending.add(tmp);
  try {
    handle = await fsp.open(tmp, 'wx');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, file);
  } catch (e) {
    if (handle) await handle.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw writeError(file, e);
  } finally {
    pending.delete(tmp);
  }
}

/**
 * Writes several files of directory `dir` as one set (e.g. an evaluation's metrics, scores, threshold
 * and detector statistics): all are written and fsynced in a temporary directory beside them first,
 * and only then renamed into place (names may hold a sub-directory, e.g. `detectors/knn.json`); the
 * files named in `remove` (an earlier set's that this one has not) go last. A failure (a full disk)
 * replaces none of them, and never leaves one file of a new set beside others of an old one.
 */
export async function writeFilesAtomic(dir: string, files: [name: string, data: string | Uint8Array][], remove: string[] = []): Promise<void> {
  const tmp = tempBeside(path.join(dir, 'set'));
  pending.add(tmp);
  try {
    for (const [name, data] of files) {
      ensureDir(path.dirname(path.join(tmp, name)));
      await writeFileAtomic(path.join(tmp, name), data);
    }
    for (const [name] of files) {
      ensureDir(path.dirname(path.join(dir, name)));
      try {
        await fsp.rename(path.join(tmp, name), path.join(dir, name));
      } catch (e) {
        throw writeError(path.join(dir, name), e);
      }
    }
    for (const name of remove) await fsp.rm(path.join(dir, name), { force: true });
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
    pending.delete(tmp);
  }
}

/**
 * A file written piece by piece (e.g. a CSV of scores, row batch after row batch) that, like
 * `writeFileAtomic`, appears complete or not at all: the pieces go to a temporary file beside it,
 * renamed over `file` by `commit()`. `abort()` (or the process exiting) removes the temporary file.
 */
export class AtomicFile {
  private readonly tmp: string;
  private fd: number | undefined;

  constructor(readonly file: string) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(file);
    } catch {
      // a new file
    }
    if (st?.isDirectory()) throw new WriteError(`${file}: is a directory; give the path of a file to write (e.g. ${path.join(file, path.basename(file) || 'out')}.csv)`, 'EISDIR');
    ensureDir(path.dirname(path.resolve(file)));
    this.tmp = tempBeside(file);
    pending.add(this.tmp);
    this.fd = this.io(() => fs.openSync(this.tmp, 'wx'));
  }

  private io<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      this.abort();
      throw writeError(this.file, e);
    }
  }

  write(text: string): void {
    this.io(() => fs.writeSync(this.fd!, text));
  }

  commit(): void {
    this.io(() => {
      fs.fsyncSync(this.fd!);
      fs.closeSync(this.fd!);
      this.fd = undefined;
      fs.renameSync(this.tmp, this.file);
    });
    pending.delete(this.tmp);
  }

  abort(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    fs.rmSync(this.tmp, { force: true });
    pending.delete(this.tmp);
  }
}
