/**
 * Locks that keep two grodd processes from writing one run directory (`run.lock`) or one sweep
 * (`sweep.lock`) at the same time: two `train --resume` of one run, a sweep rerun while trainings
 * of a killed sweep still run, two sweeps of one root.
 *
 * A lock is a file created exclusively (written in full under a temporary name, then hard-linked to
 * its name, so that no reader ever sees it half-written) holding one JSON line: the holder's pid,
 * host name, start time and command. It is removed when the holder exits, however it exits short of
 * SIGKILL; a lock left by a killed process is stale, and the next one to take it removes it (with a
 * warning naming the dead pid). A lock held on another host cannot be checked from here: it counts
 * as held, and the message says which host to look on and which file to delete if it is gone.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { tempBeside, writeError } from './atomic-write';

/** The lock file of a run directory. */
export const RUN_LOCK = 'run.lock';

/** Who holds a lock, as written in its file. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  started: string;
  /** The holder's command line, for the messages. */
  command: string;
}

/** A lock file's state: nobody's, held by a live (or unverifiable) process, or left by a dead one. */
export type LockState = { state: 'free' } | { state: 'held' | 'stale'; holder: LockHolder };

/** A lock this process holds. */
export interface Lock {
  file: string;
  release(): void;
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as LockHolder;
    return Number.isInteger(h.pid) && h.pid > 0 && typeof h.host === 'string' ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` on this host is a live grodd process (a reused pid of another program is not). */
function aliveHere(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('grodd');
  } catch {
    return true; // no /proc (not Linux), or it exited just now: err on the side of a held lock
  }
}

/** The state of the lock `file`; a garbled lock file (a disk error) counts as stale. */
export function lockState(file: string): LockState {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { state: 'free' };
    throw e;
  }
  const holder = parseHolder(text) ?? { pid: 0, host: '?', started: '?', command: `unreadable lock file: ${JSON.stringify(text.slice(0, 40))}` };
  if (holder.pid === process.pid && holder.host === os.hostname()) return { state: 'held', holder };
  const alive = holder.pid > 0 && (holder.host !== os.hostname() || aliveHere(holder.pid));
  return { state: alive ? 'held' : 'stale', holder };
}

/** "process 123 on host h (grodd train ..., since T)". */
export function describeHolder(h: LockHolder): string {
  return `process ${h.pid} on host ${h.host} (${h.command}, since ${h.started})`;
}

const held = new Set<string>();
let exitHook = false;

function commandLine(): string {
  const args = process.argv.slice(2).join(' ');
  return `grodd ${args}`.slice(0, 200);
}

/**
 * Takes the lock `file` for `what` (e.g. "the run" / "the sweep", for the messages), removing a stale
 * one first. Throws a UserError naming the holder when a live process has it. The lock is released by
 * `release()` or when this process exits.
 */
export function acquireLock(file: string, what: string, warn: (m: string) => void = (m) => process.stderr.write(`grodd: warning: ${m}\n`)): Lock {
  const holder: LockHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), command: commandLine() };
  const text = `${JSON.stringify(holder)}\n`;
  const tmp = tempBeside(file);
  try {
    fs.writeFileSync(tmp, text);
  } catch (e) {
    throw writeError(file, e);
  }
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        create(tmp, file, text);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(file, e);
      }
      const s = lockState(file);
      if (s.state === 'held') {
        throw new UserError(
          `${what} is locked by ${describeHolder(s.holder)}; two grodd processes never write one run. Wait for it to finish or stop it` +
            `${s.holder.host !== os.hostname() ? ` (on host ${s.holder.host}); if it is gone, delete ${file}` : ''}`,
        );
      }
      if (s.state === 'stale') {
        breakStale(file, s.holder);
        warn(`${file}: removed a stale lock of ${describeHolder(s.holder)}, which no longer runs`);
      }
      if (attempt === 2) throw new UserError(`${file}: cannot take the lock (another process keeps taking it); try again`);
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  held.add(file);
  if (!exitHook) {
    exitHook = true;
    // Also on process.exit() from a signal handler; only SIGKILL leaves a (stale) lock behind.
    process.on('exit', () => {
      for (const f of held) releaseFile(f);
    });
  }
  return {
    file,
    release: () => {
      releaseFile(file);
      held.delete(file);
    },
  };
}

/** Creates `file` with `text` (prepared in `tmp`) unless it exists (EEXIST). */
function create(tmp: string, file: string, text: string): void {
  try {
    fs.linkSync(tmp, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // file systems without hard links: an exclusive create, which a reader may see empty for a moment
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    fs.writeFileSync(file, text, { flag: 'wx' });
  }
}

/**
 * Removes a stale lock by renaming it away first: of two processes breaking the same stale lock at once,
 * only one renames it; if the renamed file turns out to be a fresh lock taken in between, it goes back.
 */
function breakStale(file: string, stale: LockHolder): void {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const got = parseHolder(fs.readFileSync(aside, 'utf8'));
  if (got && (got.pid !== stale.pid || got.started !== stale.started)) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // a third process took the lock meanwhile; it holds it now
    }
  }
  fs.rmSync(aside, { force: true });
}

/** Removes `file` if this process holds it (never another process's lock). */
function releaseFile(file: string): void {
  try {
    const h = parseHolder(fs.readFileSync(file, 'utf8'));
    if (h && h.pid === process.pid && h.host === os.hostname()) fs.rmSync(file, { force: true });
  } catch {
    // already gone
  }
}

/** Locks the run directory `dir` (its `run.lock`) for this process. */
export function lockRun(dir: string): Lock {
  return acquireLock(path.join(dir, RUN_LOCK), `run ${dir}`);
}
