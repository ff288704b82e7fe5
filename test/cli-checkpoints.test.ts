import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors } from '../src/io/safetensors';
import { CHILD_ENV, grodd, tempDir, tinyConfig } from './cli-helpers';

const tmp = tempDir('checkpoints');
const cfg = path.join(tmp, 'c.yaml');
fs.writeFileSync(cfg, tinyConfig({ name: 'c', epochs: 3 }));
const full = path.join(tmp, 'full');
const ckpt = (dir: string, e: number): string => path.join(dir, 'checkpoints', `epoch-000${e}`);
const sha = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

test('a sidecar records the sha256 of its weights and optimizer files', () => {
  assert.equal(grodd('train', '--config', cfg, '--run-dir', full).code, 0);
  for (const e of [1, 2, 3]) {
    const info = JSON.parse(fs.readFileSync(`${ckpt(full, e)}.json`, 'utf8'));
    assert.deepEqual(info.sha256, { weights: sha(`${ckpt(full, e)}.safetensors`), optimizer: sha(`${ckpt(full, e)}.optim.safetensors`) });
  }
});

test('a truncated latest checkpoint: --resume falls back to the previous one, naming both, and still ends bit-identical', async () => {
  const cut = path.join(tmp, 'cut');
  fs.cpSync(full, cut, { recursive: true });
  // as if killed in epoch 3, and epoch 2's weights were truncated afterwards
  for (const ext of ['.json', '.safetensors', '.optim.safetensors']) fs.rmSync(ckpt(cut, 3) + ext);
  fs.rmSync(path.join(cut, 'metrics.csv'));
  fs.writeFileSync(path.join(cut, 'status'), 'failed: interrupted by SIGKILL\n');
  fs.truncateSync(`${ckpt(cut, 2)}.safetensors`, 100);
  const r = grodd('train', '--resume', cut);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: checkpoint epoch-0002 cannot be used \(.*epoch-0002\.safetensors: corrupt or truncated \(100 bytes.*\); falling back to the previous one, epoch-0001/);
  assert.match(r.stderr, /resuming .* after epoch 1 \(epoch-0001\)/);
  assert.ok(fs.existsSync(`${ckpt(cut, 2)}.json.corrupt`), 'the bad checkpoint is set aside, its files kept');
  const a = await readSafetensors(`${ckpt(full, 3)}.safetensors`);
  const b = await readSafetensors(`${ckpt(cut, 3)}.safetensors`);
  for (const k of Object.keys(a.tensors)) assert.deepEqual(b.tensors[k].data, a.tensors[k].data, k);
});

test('eval passes over a corrupt latest checkpoint with a warning; the corrupt one asked for by name is refused', () => {
  const run = path.join(tmp, 'flipped');
  fs.cpSync(full, run, { recursive: true });
  const file = `${ckpt(run, 3)}.safetensors`;
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 3] ^= 0x40; // one flipped bit in a weight: same size, still a valid safetensors file
  fs.writeFileSync(file, bytes);
  const r = grodd('eval', '--run', run);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: checkpoint epoch-0003 cannot be used \(.*corrupt or truncated.*\); falling back to the previous one, epoch-0002/);
  assert.match(r.stderr, /evaluating epoch-0002 \(epoch 2\)/);
  const named = grodd('eval', '--run', run, '--checkpoint', file);
  assert.equal(named.code, 2);
  assert.match(named.stderr, /epoch-0003\.safetensors: corrupt or truncated/);
  assert.doesNotMatch(named.stderr, /\n\s+at /);
});

test('a failure says which checkpoints the run keeps, never claims one that does not exist', () => {
  const cfgNan = path.join(tmp, 'nan.yaml');
  // diverges in epoch 1 (no warm-up margins needed): nothing is on disk yet
  fs.writeFileSync(cfgNan, tinyConfig({ name: 'nan', epochs: 2, train: '  lr: 1.0e+30\n' }));
  const dir = path.join(tmp, 'nan');
  const r = grodd('train', '--config', cfgNan, '--run-dir', dir);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /loss became .* at epoch 1, step \d+ .*\. The run has no checkpoint on disk yet/);
  assert.doesNotMatch(r.stderr, /checkpoint is kept/);
  assert.match(fs.readFileSync(path.join(dir, 'status'), 'utf8'), /^failed: loss became .*The run has no checkpoint on disk yet/);
});

const canMount = spawnSync('unshare', ['-rm', 'true']).status === 0;

test('a full disk: the message says to free space and resume, and the resumed run completes', { skip: !canMount && 'needs unshare -rm (a user namespace) for a small tmpfs' }, () => {
  const out = path.join(tmp, 'disk-out');
  fs.mkdirSync(out);
  const mnt = path.join(tmp, 'disk');
  fs.mkdirSync(mnt);
  const many = path.join(tmp, 'many.yaml');
  fs.writeFileSync(many, tinyConfig({ name: 'many', epochs: 12 }));
  // a 400 kB tmpfs with a 300 kB file in it: room for a few checkpoints of 13 kB each, then full
  const script = `
    mount -t tmpfs -o size=400k none ${mnt} || exit 99
    head -c 300000 /dev/zero > ${mnt}/filler
    node bin/grodd.js train --config ${many} --run-dir ${mnt}/run 2> ${out}/first.err; echo $? > ${out}/first.code
    cp -r ${mnt}/run ${out}/after-full
    rm ${mnt}/filler
    node bin/grodd.js train --resume ${mnt}/run 2> ${out}/second.err; echo $? > ${out}/second.code
    cat ${mnt}/run/status > ${out}/status`;
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', script], { env: CHILD_ENV, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const first = fs.readFileSync(path.join(out, 'first.err'), 'utf8');
  assert.equal(fs.readFileSync(path.join(out, 'first.code'), 'utf8').trim(), '1', first);
  assert.match(first, /cannot write: no space left on device; free space, then grodd train --resume .*\/run \(the run has \d+ checkpoint\(s\) on disk, the latest epoch-\d+/);
  assert.doesNotMatch(first, /\n\s+at /);
  assert.match(fs.readFileSync(path.join(out, 'after-full', 'status'), 'utf8'), /^failed: .*no space left on device; free space, then grodd train --resume/);
  assert.deepEqual(fs.readdirSync(path.join(out, 'after-full'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.tmp')), []);
  const second = fs.readFileSync(path.join(out, 'second.err'), 'utf8');
  assert.equal(fs.readFileSync(path.join(out, 'second.code'), 'utf8').trim(), '0', second);
  assert.equal(fs.readFileSync(path.join(out, 'status'), 'utf8').trim(), 'completed');
});

test('eval on a full disk replaces none of metrics.csv, scores.csv and threshold.json', { skip: !canMount && 'needs unshare -rm (a user namespace) for a small tmpfs' }, () => {
  const out = path.join(tmp, 'eval-out');
  fs.mkdirSync(out);
  const mnt = path.join(tmp, 'eval-disk');
  fs.mkdirSync(mnt);
  // room left for metrics.csv (~2 kB) and threshold.json but not scores.csv (~15 kB); epoch 1 scores differ from epoch 3's
  const script = `
    mount -t tmpfs -o size=1m none ${mnt} || exit 99
    cp -r ${full} ${mnt}/run
    avail=$(df -B1 --output=avail ${mnt} | tail -1); head -c $((avail - 8192)) /dev/zero > ${mnt}/filler
    node bin/grodd.js eval --run ${mnt}/run --checkpoint ${mnt}/run/checkpoints/epoch-0001 --replace 2> ${out}/eval.err; echo $? > ${out}/eval.code
    cp -r ${mnt}/run ${out}/run`;
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', script], { env: CHILD_ENV, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const err = fs.readFileSync(path.join(out, 'eval.err'), 'utf8');
  assert.equal(fs.readFileSync(path.join(out, 'eval.code'), 'utf8').trim(), '2', err);
  assert.match(err, /cannot write: no space left on device/);
  for (const f of ['metrics.csv', 'scores.csv', 'threshold.json']) assert.equal(fs.readFileSync(path.join(out, 'run', f), 'utf8'), fs.readFileSync(path.join(full, f), 'utf8'), f);
  assert.deepEqual(fs.readdirSync(path.join(out, 'run')).filter((f) => f.includes('.tmp')), []);
});
