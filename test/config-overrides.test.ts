import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { configToYaml, loadConfig, parseConfig } from '../src/config/config';
import { applyOverride, formatOverride, keyParts, parseOverrideArgs, provenanceComment } from '../src/config/overrides';
import { loadSweep } from '../src/cli/sweep-dir';
import { tempDir, tinyConfig } from './cli-helpers';

const tmp = tempDir('overrides');
const file = path.join(tmp, 'tiny.yaml');
fs.writeFileSync(file, tinyConfig({ name: 'tiny' }));

const messageOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

test('parseOverrideArgs: dotted keys with [i] or .i list indices, values typed as YAML', () => {
  assert.deepEqual(parseOverrideArgs(['train.lr=0.1', 'train.epochs=2', 'seed=3', 'data.ood[1].limit=500', 'name=x-1', 'model.channels=[8, 16]', 'train.grad_reg.fd_step=1e-4', "name='7'"]), [
    ['train.lr', 0.1],
    ['train.epochs', 2],
    ['seed', 3],
    ['data.ood[1].limit', 500],
    ['name', 'x-1'],
    ['model.channels', [8, 16]],
    ['train.grad_reg.fd_step', 1e-4],
    ['name', '7'],
  ]);
  assert.deepEqual(keyParts('data.ood[1].limit'), ['data', 'ood', '1', 'limit']);
  assert.deepEqual(keyParts('data.ood.1.limit'), ['data', 'ood', '1', 'limit']);
  assert.match(messageOf(() => parseOverrideArgs(['train.lr'])), /^override "train\.lr": expected KEY=VALUE with a dotted config key, e\.g\. train\.lr=0\.1/);
  assert.match(messageOf(() => parseOverrideArgs(['train..lr=1'])), /expected KEY=VALUE/);
  assert.match(messageOf(() => parseOverrideArgs(['=1'])), /expected KEY=VALUE/);
  assert.match(messageOf(() => parseOverrideArgs(['train.lr='])), /^override train\.lr=: the value is missing; write train\.lr=VALUE$/);
  assert.match(messageOf(() => parseOverrideArgs(['model.channels=[8,'])), /^override model\.channels=\[8,: the value is not valid YAML/);
  // What is recorded parses back to the same value.
  for (const o of parseOverrideArgs(['model.channels=[8, 16]', 'data.ood[0]={name: n, format: synthetic}', 'train.lr=0.1'])) {
    assert.deepEqual(parseOverrideArgs([formatOverride(o)])[0], o);
  }
});

test('applyOverride indexes lists written either way and copies (the input is unchanged)', () => {
  const raw = { data: { ood: [{ limit: 1 }, { limit: 2 }] } };
  const out = applyOverride(raw, 'data.ood[1].limit', 500);
  assert.deepEqual(out, { data: { ood: [{ limit: 1 }, { limit: 500 }] } });
  assert.equal(raw.data.ood[1].limit, 2);
  assert.deepEqual(applyOverride(raw, 'data.ood.0.limit', 7), { data: { ood: [{ limit: 7 }, { limit: 2 }] } });
});

test('loadConfig with overrides: the values replace the file\'s, checked by the config schema', () => {
  const c = loadConfig(file, parseOverrideArgs(['train.lr=0.1', 'train.epochs=1', 'seed=5', 'data.ood[1].size=20', 'train.grad_reg.mode=finite-difference']));
  assert.equal(c.train.lr, 0.1);
  assert.equal(c.train.epochs, 1);
  assert.equal(c.seed, 5);
  assert.equal(c.data.ood[1].name, 'noise');
  assert.equal((c.data.ood[1] as unknown as { size: number }).size, 20);
  assert.equal(c.train.grad_reg.mode, 'finite-difference');
  assert.equal(c.train.batch_size, 32, 'untouched keys keep the file\'s values');
});

test('override errors are one line naming the file, the override and the field', () => {
  const err = (...args: string[]): string => messageOf(() => loadConfig(file, parseOverrideArgs(args)));
  assert.match(err('train.lrr=0.1'), new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: override train\\.lrr=0\\.1: train\\.lrr: unknown key \\(did you mean "lr"\\?\\)`));
  assert.match(err('train.epochs=2', 'train.lr=abc'), /: override train\.lr=abc: train\.lr: expected a number > 0, got "abc"$/);
  assert.match(err('data.ood[5].limit=1'), /: override data\.ood\[5\]\.limit=1: data\.ood has 2 item\(s\); there is no item 5$/);
  assert.match(err('seed.x=1'), /: override seed\.x=1: seed is 3, not a mapping, so it has no key "x"$/);
  // Only the combination is wrong: both overrides are named.
  assert.match(err('train.batch_size=30', 'train.micro_batches=4'), /with overrides train\.batch_size=30 train\.micro_batches=4: train\.micro_batches: must divide batch_size \(30\), got 4$/);
  for (const m of [err('train.lrr=0.1'), err('train.lr=abc')]) assert.ok(!m.includes('\n'), m);
});

test('the resolved config.yaml lists the overrides in comments and parses back to the same config', () => {
  const overrides = parseOverrideArgs(['train.lr=0.1', 'model.channels=[4, 8]']);
  const c = loadConfig(file, overrides);
  const text = `${provenanceComment(file, overrides)}${configToYaml(c)}`;
  assert.match(text, /^# resolved config of .*tiny\.yaml with command-line overrides \(every default filled in\)\n#   train\.lr=0\.1\n#   model\.channels=\[4,8\]\n/);
  assert.deepEqual(parseConfig(YAML.parse(text), 'back.yaml'), c);
  assert.equal(provenanceComment(file, []), `# resolved config of ${file} (every default filled in)\n`);
});

test('sweep overrides change every trial\'s base; the sweep keeps its names and seeds', () => {
  const sweepFile = path.join(tmp, 'sweep.yaml');
  fs.writeFileSync(sweepFile, 'name: s\nbase: tiny.yaml\ngrid:\n  train.grad_reg.weight: [0, 1]\nseeds: [0, 1]\n');
  const s = loadSweep(sweepFile, parseOverrideArgs(['train.epochs=1', 'data.ood[0].limit=10']));
  assert.equal(s.trials.length, 4);
  for (const t of s.trials) {
    assert.equal(t.config.train.epochs, 1);
    assert.equal(t.config.data.ood[0].limit, 10);
  }
  assert.deepEqual(s.trials.map((t) => t.config.train.grad_reg.weight), [0, 0, 1, 1], 'the grid still applies over the override');
  assert.match(messageOf(() => loadSweep(sweepFile, parseOverrideArgs(['name=x']))), /^override name: the sweep names each trial's run/);
  assert.match(messageOf(() => loadSweep(sweepFile, parseOverrideArgs(['seed=4']))), /sets seeds: \[0, 1\]; edit that list instead/);
  assert.match(messageOf(() => loadSweep(sweepFile, parseOverrideArgs(['train.epochz=1']))), /tiny\.yaml: override train\.epochz=1: train\.epochz: unknown key \(did you mean "epochs"\?\)/);
});
