import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { ensureDir, writeError, writeFileAtomic, WriteError } from './atomic-write';
import { RUN_LOCK } from './run-lock';

/** A run's state, in the `status` file of its directory. */
export type RunStatus = 'running' | 'completed' | `failed: ${string}`;

function stamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Creates `<root>/<name>-<timestamp>` for a new run. The directory is claimed
 * with a non-recursive mkdir, so two runs started in the same second get
 * distinct directories (`-2`, `-3`, ...) and no run overwrites another.
 */
export function createRunDir(root: string, name: string, now = new Date()): string {
  ensureDir(root);
  const base = path.join(root, `${name}-${stamp(now)}`);
  for (let i = 1; ; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(dir, e);
    }
  }
}

/**
 * Claims exactly `dir` for a new run (e.g. a sweep trial); refuses one that already holds files. A lone
 * `run.lock` does not count: it is left by a training killed before it wrote anything, and taking the
 * run's lock next decides whether that training still runs.
 */
export function claimRunDir(dir: string): string {
  ensureDir(path.dirname(path.resolve(dir)));
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(dir, e);
    if (!fs.statSync(dir).isDirectory()) throw new UserError(`${dir} exists and is not a directory; give --run-dir a directory path`);
    if (fs.readdirSync(dir).some((f) => f !== RUN_LOCK)) throw new UserError(`${dir} already exists and is not empty; a run never overwrites another (use --resume ${dir} to continue it)`);
  }
  return dir;
}

export async function writeStatus(runDir: string, status: RunStatus): Promise<void> {
  const file = path.join(runDir, 'status');
  try {
    await writeFileAtomic(file, status + '\n');
  } catch (e) {
    // On a full disk a new file cannot be made, but the status file's own block can be rewritten in place.
    if (!(e instanceof WriteError && e.full) || !fs.existsSync(file)) throw e;
    try {
      fs.writeFileSync(file, status + '\n');
    } catch {
      throw e;
    }
  }
}

export function readStatus(runDir: string): string {
  try {
    return fs.readFileSync(path.join(runDir, 'status'), 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** Checks that `runDir` is a grodd run directory (has config.yaml). */
export function checkRunDir(runDir: string): void {
  if (!fs.existsSync(runDir)) throw new UserError(`run directory not found: ${runDir}`);
  if (!fs.existsSync(path.join(runDir, 'config.yaml'))) throw new UserError(`${runDir} is not a grodd run directory (no config.yaml)`);
}
