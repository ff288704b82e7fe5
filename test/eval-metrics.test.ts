import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auroc, auprIn, auprOut, fpr95, fpr95OpenOod, oodMetrics, rocPoints } from '../src/eval/metrics';
import { UserError } from '../src/util/errors';

interface ReferenceCase {
  name: string;
  id_scores: number[];
  ood_scores: number[];
  auroc: number;
  aupr_in: number;
  aupr_out: number;
  fpr95: number;
  /** OpenOOD's convention, computed with numpy by bench/fpr95_openood_reference.py. */
  fpr95_openood: number;
}

const reference = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'ood-metrics-reference.json'), 'utf8')) as {
  convention: string;
  cases: ReferenceCase[];
};

const close = (actual: number, expected: number, what: string, tol = 1e-9): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected}`);

test('fixture uses our convention and is not empty', () => {
  assert.equal(reference.convention, 'ID positive, higher score = more ID');
  assert.ok(reference.cases.length > 0);
});

for (const c of reference.cases) {
  test(`reference case ${c.name} (scikit-learn + OE FPR95) to 1e-9`, () => {
    close(auroc(c.id_scores, c.ood_scores), c.auroc, 'auroc');
    close(auprIn(c.id_scores, c.ood_scores), c.aupr_in, 'auprIn');
    close(auprOut(c.id_scores, c.ood_scores), c.aupr_out, 'auprOut');
    close(fpr95(c.id_scores, c.ood_scores), c.fpr95, 'fpr95');
    // oodMetrics shares one sort among the metrics; it must agree with the single-metric functions.
    // Typed arrays work too. Both sides in float32 keep every tie and every order of these one-decimal
    // scores; mixing float32 with float64 would not (float32(2.4) != 2.4 breaks an ID/OOD tie).
    const m = oodMetrics(Float32Array.from(c.id_scores), Float32Array.from(c.ood_scores));
    close(m.auroc, c.auroc, 'float32 auroc');
    close(m.auprIn, c.aupr_in, 'float32 auprIn');
    close(m.auprOut, c.aupr_out, 'float32 auprOut');
    close(m.fpr95, c.fpr95, 'float32 fpr95');
    close(fpr95OpenOod(c.id_scores, c.ood_scores), c.fpr95_openood, 'fpr95 (openood)');
    close(oodMetrics(c.id_scores, c.ood_scores, 'openood').fpr95, c.fpr95_openood, 'oodMetrics fpr95 (openood)');
    const exact = oodMetrics(c.id_scores, c.ood_scores);
    assert.deepEqual(exact, {
      fpr95: fpr95(c.id_scores, c.ood_scores),
      auroc: auroc(c.id_scores, c.ood_scores),
      auprIn: auprIn(c.id_scores, c.ood_scores),
      auprOut: auprOut(c.id_scores, c.ood_scores),
    });
  });
}

test('hand-computed: one ID/OOD tie counts one half', () => {
  // id = [3, 1], ood = [1, 0]. Pairs (id > ood): (3,1) 1, (3,0) 1, (1,1) ½, (1,0) 1 → 3.5 / 4.
  close(auroc([3, 1], [1, 0]), 0.875, 'auroc');
  // Thresholds 3: TP 1 FP 0 (P = 1, ΔR = ½); 1: TP 2 FP 1 (P = ⅔, ΔR = ½) → AP = ½ + ⅓.
  close(auprIn([3, 1], [1, 0]), 0.5 + 1 / 3, 'auprIn');
  // Negated, OOD positive: ood → [-1, 0], id → [-3, -1]. Threshold 0: TP 1 FP 0 (P 1, ΔR ½);
  // -1: TP 2 FP 1 (P ⅔, ΔR ½) → AP = ½ + ⅓ as well (the data is symmetric).
  close(auprOut([3, 1], [1, 0]), 0.5 + 1 / 3, 'auprOut');
});

test('hand-computed: points are grouped by distinct threshold', () => {
  const r = rocPoints([2, 1, 1], [1, 0]);
  assert.deepEqual(Array.from(r.thresholds), [2, 1, 0]);
  assert.deepEqual(Array.from(r.tps), [1, 3, 3]);
  assert.deepEqual(Array.from(r.fps), [0, 1, 2]);
});

test('fpr95: equally near points resolve to the lowest threshold (largest FPR)', () => {
  // 20 ID scores 20..1 and OOD scores 1.5 and 0.5 placed so that TPR 19/20 = 0.95 is hit by two
  // thresholds: 2 (TP 19, FP 0) and 1.5 (TP 19, FP 1). OE's routine takes the lower one → FPR ½.
  const id = Array.from({ length: 20 }, (_, i) => 20 - i);
  assert.equal(fpr95(id, [1.5, 0.5]), 0.5);
  // Nearest, not "at least": with 10 ID scores TPR jumps 0.9 → 1.0; |1.0−0.95| is a hair larger than
  // |0.9−0.95| in float64, so the 0.9 point is chosen: threshold 2 has FP 1 (OOD 2.5) of 2, whereas
  // the TPR-1 point (threshold 1, tied with the other OOD score) would give FPR 1.
  const id10 = Array.from({ length: 10 }, (_, i) => 10 - i);
  assert.equal(fpr95(id10, [2.5, 1]), 0.5);
  // The walk stops at the first point with TPR 1: later points only add false positives.
  assert.equal(fpr95([3, 2], [1, 0]), 0);
});

test('AUPR-Out equals AUPR-In of the negated scores with the classes swapped', () => {
  // Integer scores in a small range force many ties within and across the sets.
  let seed = 12345;
  const next = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % 9) - 4;
  const id = Array.from({ length: 57 }, next).map((x) => x + 1);
  const ood = Array.from({ length: 43 }, next);
  close(auprOut(id, ood), auprIn(ood.map((s) => -s), id.map((s) => -s)), 'auprOut', 1e-12);
});

test('metrics accept typed arrays and treat -0 and 0 as one threshold', () => {
  close(auroc(new Float32Array([0]), new Float64Array([-0])), 0.5, 'auroc');
});

test('empty inputs and non-finite scores are rejected with a clear UserError', () => {
  assert.throws(() => auroc([], [1]), (e: unknown) => e instanceof UserError && /ID scores are empty/.test(e.message));
  assert.throws(() => oodMetrics([1], []), (e: unknown) => e instanceof UserError && /OOD scores are empty/.test(e.message));
  assert.throws(() => fpr95([1, NaN], [0]), (e: unknown) => e instanceof UserError && /ID score at index 1 is NaN/.test(e.message));
  assert.throws(() => auprOut([1], [Infinity]), (e: unknown) => e instanceof UserError && /OOD score at index 0 is Infinity/.test(e.message));
  assert.throws(() => fpr95([1], [0], 0), /recall level must be in \(0, 1\]/);
});

test('FPR95 conventions: a hand-made case where the nearest ROC point and OpenOOD disagree', () => {
  // ID 10, 9, ..., 1; OOD 2, 1.5, 0. OpenOOD: m = floor(0.95 · 10) = 9, threshold = the 9th highest
  // ID score = 2, OOD >= 2: one of three. Nearest: the ROC points at thresholds 2 and 1.5 have TPR 0.9,
  // the one at 1 has TPR 1; both 0.05 from 0.95, and the tie goes to the lower threshold, which
  // already admits two OOD scores.
  const id = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
  const ood = [2, 1.5, 0];
  close(fpr95OpenOod(id, ood), 1 / 3, 'openood');
  close(fpr95(id, ood), 2 / 3, 'nearest');
  assert.equal(oodMetrics(id, ood, 'openood').fpr95, 1 / 3);
  assert.equal(oodMetrics(id, ood, 'nearest').fpr95, 2 / 3);
  // a single ID score: m is at least 1
  close(fpr95OpenOod([1], [0, 1, 2]), 2 / 3, 'one ID score');
});
