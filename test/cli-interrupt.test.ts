import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCsv } from '../src/io/csv';
import { readSafetensors } from '../src/io/safetensors';
import { CHILD_ENV, grodd, tempDir, tinyConfig } from './cli-helpers';

const tmp = tempDir('interrupt');
// GReg+ and percentile margins: every stream a resumed epoch must restore (ID order, outlier stream, k-means seeding, loss sums)
const cfg = path.join(tmp, 'stop.yaml');
fs.writeFileSync(cfg, tinyConfig({ name: 'stop', epochs: 3, train: '  method: greg+\n  sampling: { clusters: 8, pool_size: 96 }\n' }));

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

/** Starts `grodd train`, calls `onLine` with its stderr so far after each chunk; resolves to the exit code and stderr. */
function train(args: string[], onOutput: (stderr: string, kill: (sig: NodeJS.Signals) => void) => void): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['bin/grodd.js', 'train', ...args], { env: CHILD_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    onOutput(stderr, (sig) => child.kill(sig));
  });
  return new Promise((res) => child.on('close', (code) => res({ code, stderr })));
}

test('Ctrl-C at a random step of epoch 2 saves that step; --resume ends bit-identical to an uninterrupted run, no .tmp left', async () => {
  const full = path.join(tmp, 'full');
  assert.equal(grodd('train', '--config', cfg, '--run-dir', full).code, 0);

  const at = 1 + Math.floor(Math.random() * 3); // a step of 1..3 of the 6 in epoch 2
  const cut = path.join(tmp, 'cut');
  let sent = false;
  const r = await train(['--config', cfg, '--run-dir', cut], (err, kill) => {
    if (!sent && new RegExp(`epoch 2/3 +\\d+% ${at}/6 `).test(err)) {
      sent = true;
      kill('SIGINT');
    }
  });
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /SIGINT: stopping after the current step to save a checkpoint/);
  const m = /interrupted by SIGINT at epoch 2, step (\d) of 6: saved (epoch-0002-step-000\d); continue with: grodd train --resume /.exec(r.stderr);
  assert.ok(m, `step ${at}: ${r.stderr}`);
  const step = Number(m[1]);
  // the signal follows the line of step `at` through a pipe, while the next step may already run; the step in progress finishes
  assert.ok(step >= at && step <= at + 2, `stopped within a step of the signal (sent after the line of step ${at}, stopped after step ${step})`);
  assert.equal(fs.readFileSync(path.join(cut, 'status'), 'utf8').trim(), `failed: interrupted by SIGINT at epoch 2, step ${step} of 6; 2 checkpoint(s) on disk, the latest ${m[2]} (epoch 2, step ${step} of 6)`);
  assert.deepEqual(filesUnder(cut).filter((f) => f.endsWith('.tmp')), []);
  assert.equal(fs.existsSync(path.join(cut, 'run.lock')), false);

  const resumed = grodd('train', '--resume', cut);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming .* at epoch 2, step ${step} of 6 \\(${m[2]}\\)`));
  const a = await readSafetensors(path.join(full, 'checkpoints', 'epoch-0003.safetensors'));
  const b = await readSafetensors(path.join(cut, 'checkpoints', 'epoch-0003.safetensors'));
  for (const k of Object.keys(a.tensors)) assert.deepEqual(b.tensors[k].data, a.tensors[k].data, k);
  const tracked = (dir: string): number => JSON.parse(fs.readFileSync(path.join(dir, 'checkpoints', 'epoch-0003.json'), 'utf8')).batches_tracked;
  assert.equal(tracked(cut), 18, 'BN updates counted across the interruption: 3 epochs of 6 steps');
  assert.equal(tracked(full), 18);
  // the resumed epoch's logged means are those of the uninterrupted epoch: the loss sums were restored too
  const logOf = async (dir: string) => (await readCsv(path.join(dir, 'train_log.csv'))).rows.map(({ seconds, sampling_share, ...rest }) => rest);
  assert.deepEqual(await logOf(cut), await logOf(full));
  assert.equal(fs.readFileSync(path.join(cut, 'metrics.csv'), 'utf8'), fs.readFileSync(path.join(full, 'metrics.csv'), 'utf8'));
  assert.deepEqual(filesUnder(path.join(cut, 'checkpoints')).filter((f) => f.includes('-step-')), [], 'the mid-epoch checkpoint is dropped once passed');
  assert.deepEqual(filesUnder(cut).filter((f) => f.endsWith('.tmp')), []);
});

test('a second Ctrl-C exits at once; the status names the checkpoints on disk, not epochs in memory', async () => {
  const dir = path.join(tmp, 'twice');
  // checkpoints every 2 epochs: epoch 1 ends in memory only
  fs.writeFileSync(path.join(tmp, 'twice.yaml'), tinyConfig({ name: 'twice', epochs: 3, train: '  checkpoint_every: 2\n' }));
  let sent = false;
  const r = await train(['--config', path.join(tmp, 'twice.yaml'), '--run-dir', dir], (err, kill) => {
    if (!sent && /epoch 2\/3 +\d+% 1\/6 /.test(err)) {
      sent = true;
      kill('SIGINT');
      kill('SIGINT');
    }
  });
  assert.equal(r.code, 130, r.stderr);
  const status = fs.readFileSync(path.join(dir, 'status'), 'utf8').trim();
  // (the checkpoints directory is made by the first save: a second signal before it leaves none)
  const ckptDir = path.join(dir, 'checkpoints');
  const ckpts = fs.existsSync(ckptDir) ? fs.readdirSync(ckptDir).filter((f) => f.endsWith('.json')) : [];
  if (/twice/.test(status)) {
    // the second signal came before the first could save: nothing but what was on disk before
    assert.equal(status, 'failed: interrupted by SIGINT (twice) during training; no checkpoint on disk yet');
    assert.deepEqual(ckpts, []);
    assert.match(r.stderr, /interrupted by SIGINT \(twice\) during training: .* has no checkpoint on disk yet; continue with: grodd train --resume/);
  } else {
    assert.match(status, /^failed: interrupted by SIGINT at epoch 2, step \d of 6; 1 checkpoint\(s\) on disk, the latest epoch-0002-step-000\d/);
    assert.equal(ckpts.length, 1);
  }
  assert.deepEqual(filesUnder(dir).filter((f) => f.endsWith('.tmp')), []);
});

test('an atomic write cut short by process.exit leaves neither the file nor its temporary file', () => {
  const dir = tempDir('cut-write');
  // exits as soon as the temporary file exists, i.e. in the middle of the write
  const script = `require('tsx/cjs'); const fs = require('fs'); const { writeFileAtomic } = require('./src/io/atomic-write.ts');
    writeFileAtomic(${JSON.stringify(path.join(dir, 'big.bin'))}, new Uint8Array(256 << 20));
    setInterval(() => fs.readdirSync(${JSON.stringify(dir)}).some((f) => f.endsWith('.tmp')) && process.exit(130), 0);`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 130, r.stderr);
  assert.deepEqual(fs.readdirSync(dir), []);
});
