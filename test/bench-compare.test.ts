import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Baseline, compare, defaultTolerance, makeBaseline, parseBaseline } from '../src/bench/compare';

const baseline = (metrics: Baseline['metrics']): Baseline => ({ schema: 1, config: 'c.yaml', created: '', environment: {}, metrics });
const B = baseline({
  'energy/average/auroc': { value: 0.8, better: 'higher', abs_tol: 0.03 },
  'energy/average/fpr95': { value: 0.5, better: 'lower', abs_tol: 0.05 },
  wall_seconds: { value: 20, better: 'lower', rel_tol: 0.5 },
});
const status = (result: Record<string, number>): Record<string, string> => Object.fromEntries(compare(result, B).rows.map((r) => [r.key, r.status]));

test('within tolerance passes, both directions', () => {
  const c = compare({ 'energy/average/auroc': 0.775, 'energy/average/fpr95': 0.545, wall_seconds: 29 }, B);
  assert.equal(c.regressions, 0);
  assert.deepEqual(c.rows.map((r) => r.status), ['pass', 'pass', 'pass']);
  assert.ok(Math.abs(c.rows[0].limit! - 0.77) < 1e-12);
  assert.ok(Math.abs(c.rows[1].limit! - 0.55) < 1e-12);
  assert.equal(c.rows[2].limit, 30);
});

test('worse than the tolerance fails, direction-aware; better is never a failure', () => {
  assert.deepEqual(status({ 'energy/average/auroc': 0.76, 'energy/average/fpr95': 0.5, wall_seconds: 20 }), { 'energy/average/auroc': 'regression', 'energy/average/fpr95': 'pass', wall_seconds: 'pass' });
  assert.deepEqual(status({ 'energy/average/auroc': 0.8, 'energy/average/fpr95': 0.56, wall_seconds: 20 }), { 'energy/average/auroc': 'pass', 'energy/average/fpr95': 'regression', wall_seconds: 'pass' });
  // much higher AUROC, much lower FPR95 and a much faster run: improvements
  const c = compare({ 'energy/average/auroc': 0.95, 'energy/average/fpr95': 0.1, wall_seconds: 2 }, B);
  assert.equal(c.regressions, 0);
  assert.deepEqual(c.rows.map((r) => r.status), ['improved', 'improved', 'improved']);
});

test('wall time: relative tolerance', () => {
  assert.equal(status({ 'energy/average/auroc': 0.8, 'energy/average/fpr95': 0.5, wall_seconds: 30 }).wall_seconds, 'pass');
  assert.equal(status({ 'energy/average/auroc': 0.8, 'energy/average/fpr95': 0.5, wall_seconds: 30.1 }).wall_seconds, 'regression');
  // both tolerances: the larger slack applies
  const b = baseline({ t: { value: 10, better: 'lower', abs_tol: 8, rel_tol: 0.5 } });
  assert.equal(compare({ t: 17.9 }, b).regressions, 0);
  assert.equal(compare({ t: 18.1 }, b).regressions, 1);
});

test('a missing or non-finite metric fails; an extra one is new', () => {
  const c = compare({ 'energy/average/auroc': NaN, 'energy/average/fpr95': 0.5, extra: 1 }, B);
  assert.deepEqual(c.rows.map((r) => [r.key, r.status]), [['energy/average/auroc', 'missing'], ['energy/average/fpr95', 'pass'], ['wall_seconds', 'missing'], ['extra', 'new']]);
  assert.equal(c.regressions, 2);
});

test('makeBaseline keeps edited tolerances, defaults for the rest; parseBaseline checks the file', () => {
  const b = makeBaseline({ 'energy/average/auroc': 0.9, 'energy/x/fpr95': 0.2, id_accuracy: 0.97, wall_seconds: 12 }, { config: 'c', created: 'now', environment: {} }, B);
  assert.deepEqual(b.metrics['energy/average/auroc'], { value: 0.9, better: 'higher', abs_tol: 0.03 });
  assert.deepEqual(b.metrics.wall_seconds, { value: 12, better: 'lower', rel_tol: 0.5 });
  assert.deepEqual(b.metrics['energy/x/fpr95'], { value: 0.2, ...defaultTolerance('fpr95') });
  assert.equal(b.metrics.id_accuracy.better, 'higher');
  assert.deepEqual(parseBaseline(JSON.parse(JSON.stringify(b)), 'b.json'), b);
  assert.throws(() => parseBaseline({ schema: 1, metrics: { a: { value: 1, better: 'up' } } }, 'b.json'), /b\.json: metrics\["a"\]\.better: expected "higher" or "lower"/);
  assert.throws(() => parseBaseline({ schema: 1, metrics: { a: { value: 1, better: 'lower', abs_tol: -1 } } }, 'b.json'), /metrics\["a"\]\.abs_tol: expected a number >= 0/);
  assert.throws(() => parseBaseline({ schema: 1, metrics: { a: { value: 1, better: 'lower', tol: 1 } } }, 'b.json'), /metrics\["a"\]\.tol: unknown key/);
  assert.throws(() => parseBaseline({ schema: 2, metrics: {} }, 'b.json'), /b\.json: schema: expected 1/);
});
