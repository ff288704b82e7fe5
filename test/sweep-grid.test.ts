import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOverride } from '../src/config/overrides';
import { cartesian, expandSweep, firstDifference, parseSweep, shortKeys, valueToken } from '../src/sweep/grid';
import { summarize, TrialResult } from '../src/sweep/summary';
import { meanStd } from '../src/util/stats';

const BASE = {
  name: 'base',
  seed: 7,
  data: {
    id: { train: { format: 'synthetic', size: 64, classes: [0, 1] }, test: { format: 'synthetic', size: 32, classes: [0, 1] } },
    ood: [{ name: 'noise', format: 'synthetic', size: 16 }],
  },
  model: { channels: [4] },
  train: { epochs: 1, grad_reg: { weight: 1 } },
};

const sweep = (extra: Record<string, unknown>) => parseSweep({ name: 'sw', base: BASE, ...extra }, 'sw.yaml');

test('the grid is a cartesian product, the last key varying fastest, then the explicit trials, each per seed', () => {
  assert.deepEqual(cartesian([['a', [1, 2]], ['b', ['x', 'y']]]), [
    [['a', 1], ['b', 'x']],
    [['a', 1], ['b', 'y']],
    [['a', 2], ['b', 'x']],
    [['a', 2], ['b', 'y']],
  ]);
  const s = sweep({
    grid: { 'train.grad_reg.weight': [0, 0.1], 'train.energy_loss.weight': [0.1] },
    trials: [{ 'train.grad_reg.mode': 'finite-difference' }],
    seeds: [0, 1],
  });
  const e = expandSweep(s, BASE, 'sw.yaml: base');
  assert.deepEqual(e.trials.map((t) => t.id), [
    'grad_reg.weight-0_energy_loss.weight-0.1_seed-0',
    'grad_reg.weight-0_energy_loss.weight-0.1_seed-1',
    'grad_reg.weight-0.1_energy_loss.weight-0.1_seed-0',
    'grad_reg.weight-0.1_energy_loss.weight-0.1_seed-1',
    'mode-finite-difference_seed-0',
    'mode-finite-difference_seed-1',
  ]);
  assert.deepEqual(e.keys, ['train.grad_reg.weight', 'train.energy_loss.weight', 'train.grad_reg.mode']);
  const t = e.trials[2];
  assert.equal(t.config.train.grad_reg.weight, 0.1);
  assert.equal(t.config.train.energy_loss.weight, 0.1);
  assert.equal(t.config.seed, 0);
  assert.equal(t.config.name, `sw.${t.id}`);
  assert.equal(t.configId, 'grad_reg.weight-0.1_energy_loss.weight-0.1');
  assert.equal(e.trials[4].config.train.grad_reg.mode, 'finite-difference');
  assert.equal(e.trials[4].config.train.grad_reg.weight, 1, 'an explicit trial keeps the base values it does not set');
  for (const x of e.trials) assert.match(x.id, /^[A-Za-z0-9._-]+$/);
  // ids are stable: the same sweep expands to the same ids
  assert.deepEqual(expandSweep(s, BASE, 'b').trials.map((x) => x.id), e.trials.map((x) => x.id));
});

test('no grid and no trials: the base config once per seed (the base seed without seeds:)', () => {
  const e = expandSweep(sweep({}), BASE, 'b');
  assert.deepEqual(e.trials.map((t) => [t.id, t.seed, t.configId]), [['seed-7', 7, '']]);
});

test('ids: short unique key suffixes and filesystem-safe value tokens', () => {
  assert.deepEqual([...shortKeys(['train.grad_reg.weight', 'train.energy_loss.weight', 'train.lr', 'model.channels']).values()], ['grad_reg.weight', 'energy_loss.weight', 'lr', 'channels']);
  assert.equal(valueToken([8, 16]), '8x16');
  assert.equal(valueToken(-25), '-25');
  assert.equal(valueToken('a b/c'), 'a_b_c');
  assert.equal(valueToken(1e-3), '0.001');
  const e = expandSweep(sweep({ grid: { 'model.channels': [[4], [4, 8]] } }), BASE, 'b');
  assert.deepEqual(e.trials.map((t) => t.id), ['channels-4_seed-7', 'channels-4x8_seed-7']);
  assert.deepEqual(e.trials[1].config.model.channels, [4, 8]);
});

test('overrides create missing mappings, index lists, and never touch the base', () => {
  const o = applyOverride(BASE, 'train.margins.m_in', -3);
  assert.equal((o.train as any).margins.m_in, -3);
  assert.equal((BASE.train as any).margins, undefined);
  const l = applyOverride(BASE, 'data.ood.0.size', 99);
  assert.equal((l.data as any).ood[0].size, 99);
  assert.equal(BASE.data.ood[0].size, 16);
  assert.throws(() => applyOverride(BASE, 'data.ood.x', 1), /data\.ood is a list; index it with a number/);
  assert.throws(() => applyOverride(BASE, 'data.ood.3.size', 1), /has 1 item\(s\); there is no item 3/);
  assert.throws(() => applyOverride(BASE, 'train.epochs.x', 1), /train\.epochs is 1, not a mapping/);
});

test('a wrong dotted key or value names the sweep file, the sweep key and the config path', () => {
  const bad = (extra: Record<string, unknown>): RegExp | string => {
    try {
      expandSweep(sweep(extra), BASE, 'sw.yaml: base');
    } catch (e) {
      return (e as Error).message;
    }
    return 'no error';
  };
  assert.match(bad({ grid: { 'train.grad_reg.wieght': [0, 1] } }) as string, /^sw\.yaml: grid\.train\.grad_reg\.wieght\[0\] = 0: in the config: train\.grad_reg\.wieght: unknown key \(did you mean "weight"\?\)/);
  assert.match(bad({ grid: { 'train.lr': [0.1, -1] } }) as string, /^sw\.yaml: grid\.train\.lr\[1\] = -1: in the config: train\.lr: expected a number > 0, got -1/);
  assert.match(bad({ trials: [{ 'train.grad_reg.mode': 'exakt' }] }) as string, /^sw\.yaml: trials\[0\]\.train\.grad_reg\.mode = "exakt": .*expected one of exact \| finite-difference/);
  assert.match(bad({ trials: [{ 'train.margins.m_in': -1, 'train.margins.m_out': -2 }] }) as string, /^sw\.yaml: trials\[0\]: in the config: train\.margins\.m_in: must be below m_out/);
  assert.match(bad({ grid: { 'train.epochs': [1] }, trials: [{ 'train.epochs': 1 }] }) as string, /trials\[0\]: the same config as grid/);
  assert.throws(() => sweep({ grid: { 'train.lr': 0.1 } }), /^UserError: sw\.yaml: grid\.train\.lr: expected a non-empty list of values, got 0\.1/);
  assert.throws(() => sweep({ grid: { train: { lr: [0.1] } } }), /grid\.train: expected a list of values, got a mapping; write each swept key dotted/);
  assert.throws(() => sweep({ grid: { 'train.lr': [0.1, 0.1] } }), /grid\.train\.lr\[1\]: value 0\.1 is listed twice/);
  assert.throws(() => sweep({ gird: {} }), /sw\.yaml: gird: unknown key \(did you mean "grid"\?\)/);
  assert.throws(() => sweep({ seeds: [1, 1] }), /sw\.yaml: seeds: has a repeated seed/);
  assert.throws(() => sweep({ seeds: [1], grid: { seed: [1, 2] } }), /grid\.seed: set seeds with the top-level `seeds:` list/);
  assert.throws(() => sweep({ grid: { name: ['a'] } }), /grid\.name: the run name is set by the sweep/);
  assert.throws(() => parseSweep({ name: 'x y', base: BASE }, 'sw.yaml'), /sw\.yaml: name: use letters, digits/);
  assert.throws(() => parseSweep({ name: 'x' }, 'sw.yaml'), /sw\.yaml: base: is required/);
  assert.throws(() => expandSweep(parseSweep({ name: 'x', base: { ...BASE, modle: {} } }, 'sw.yaml'), { ...BASE, modle: {} }, 'sw.yaml: base'), /sw\.yaml: base: modle: unknown key/);
});

test('firstDifference names the first differing dotted path', () => {
  assert.equal(firstDifference({ a: { b: 1, c: [1, 2] } }, { a: { b: 1, c: [1, 2] } }), undefined);
  assert.equal(firstDifference({ a: { b: 1, c: [1, 2] } }, { a: { b: 1, c: [1, 3] } }), 'a.c[1]');
  assert.equal(firstDifference({ a: 1 }, { a: 1, b: 2 }), 'b');
});

test('summaries: one row per trial with the swept values and metrics; mean and sample std over seeds', () => {
  const e = expandSweep(sweep({ grid: { 'train.grad_reg.weight': [0, 1] }, seeds: [0, 1] }), BASE, 'b');
  const res = (auroc: number | undefined, status = 'completed'): TrialResult => ({
    status,
    epochs: 1,
    train_seconds: 2,
    id_accuracy: auroc === undefined ? undefined : 0.9,
    metrics: new Map(auroc === undefined ? [] : [['msp/noise/auroc', auroc - 0.1], ['energy/noise/auroc', auroc]]),
  });
  const s = summarize(e.trials, e.keys, [res(0.8), res(0.9), res(0.7), res(undefined, 'failed: x')], (t) => `runs/sw/${t.id}`);
  assert.deepEqual(s.columns, ['trial', 'config', 'seed', 'train.grad_reg.weight', 'status', 'run_dir', 'epochs', 'train_seconds', 'id_accuracy', 'energy/noise/auroc', 'msp/noise/auroc']);
  assert.equal(s.rows.length, 4);
  assert.deepEqual(s.rows[3], { trial: 'weight-1_seed-1', config: 'weight-1', seed: 1, 'train.grad_reg.weight': 1, status: 'failed: x', run_dir: 'runs/sw/weight-1_seed-1', epochs: 1, train_seconds: 2, id_accuracy: '', 'energy/noise/auroc': '', 'msp/noise/auroc': '' });
  assert.equal(s.byConfig.length, 2);
  assert.equal(s.byConfig[0].seeds, 2);
  assert.ok(Math.abs((s.byConfig[0]['energy/noise/auroc/mean'] as number) - 0.85) < 1e-12);
  assert.ok(Math.abs((s.byConfig[0]['energy/noise/auroc/std'] as number) - Math.sqrt(0.005)) < 1e-12);
  assert.equal(s.byConfig[1].seeds, 1, 'only completed trials count');
  assert.equal(s.byConfig[1]['energy/noise/auroc/std'], '');
  assert.deepEqual(meanStd([]), {});
});
