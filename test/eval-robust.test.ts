/**
 * The robust evaluation (PGD on the score, in [0,1] pixel space), the pixel view it works in, the
 * score-gradient statistics and the evaluation that puts them together.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigReader } from '../src/config/reader';
import { ArrayDataset } from '../src/data/dataset';
import { TransformSpec, TransformedDataset } from '../src/data/transforms';
import { useBackend } from '../src/engine/backend';
import { createDetector, headOf } from '../src/eval/detectors';
import { parseDetectorParams } from '../src/eval/detectors/params';
import { AVERAGE, evaluateModel } from '../src/eval/evaluate';
import { energyGradientNorms, gradientStatsRows } from '../src/eval/gradient-stats';
import { pixelGradient, pixelView } from '../src/eval/pixels';
import { RobustConfig, attackedScores, parseRobust, pgd, stepSize } from '../src/eval/robust';
import { scoreSet } from '../src/eval/score-set';
import { modelOutputs } from '../src/infer/outputs';
import { linear } from '../src/models/layers';
import { Model } from '../src/models/model';
import { UserError } from '../src/util/errors';
import { Rng } from '../src/util/rng';

before(async () => {
  await useBackend('wasm', { wasmThreads: 1 });
});

const SHAPE: [number, number, number] = [1, 3, 2];
const D = 6;
const K = 3;
const params = parseDetectorParams(ConfigReader.root({}, 'test'));

/** features = the flattened input, logits = features·W + b (gradients in closed form). */
function linearModel(seed: number): Model {
  const rng = new Rng(seed);
  const p = new Map<string, tf.Variable>([
    ['fc.weight', tf.variable(tf.tensor2d(Float32Array.from({ length: D * K }, () => rng.normal()), [D, K]))],
    ['fc.bias', tf.variable(tf.tensor1d(Float32Array.from({ length: K }, () => rng.normal())))],
  ]);
  const w = { params: p, buffers: new Map<string, tf.Variable>() };
  return {
    arch: 'linear', head: 'fc', numClasses: K, inputShape: SHAPE, params: p, buffers: w.buffers,
    forward: (x: tf.Tensor4D) => {
      const features = tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
      return { logits: linear(w, 'fc', features), features };
    },
  };
}

/** n images with pixels in [0, 1]; labels 0..K-1 or −1. */
function pixels(name: string, n: number, seed: number, labelled = true): ArrayDataset {
  const rng = new Rng(seed);
  return new ArrayDataset(name, SHAPE, Float32Array.from({ length: n * D }, () => rng.next()), Int32Array.from({ length: n }, (_, i) => (labelled ? i % K : -1)), labelled ? K : 0);
}

const NORMALIZE: TransformSpec = { type: 'normalize', mean: [0.5, 0.25], std: [0.5, 2] };
const robust = (over: Partial<RobustConfig> = {}): RobustConfig => ({ ...parseRobust(ConfigReader.root({}, 'test')), ...over });

test('eval.robust: defaults, fractions such as 2/255, and clear errors', () => {
  assert.deepEqual(robust(), { epsilons: [1 / 255, 2 / 255, 4 / 255], steps: 10, step_size: 'auto', random_start: true, norm: 'linf' });
  const c = parseRobust(ConfigReader.root({ epsilons: ['1/255', 0.5, ' 8 / 255 '], steps: 3, step_size: 0.01, random_start: false }, 'c.yaml'));
  assert.deepEqual(c, { epsilons: [1 / 255, 0.5, 8 / 255], steps: 3, step_size: 0.01, random_start: false, norm: 'linf' });
  assert.equal(stepSize(robust({ steps: 10 }), 4 / 255), (2.5 * 4) / 255 / 10);
  assert.equal(stepSize(c, 4 / 255), 0.01);
  const fails = (raw: unknown, re: RegExp): void => assert.throws(() => parseRobust(ConfigReader.root(raw, 'c.yaml')), (e: unknown) => e instanceof UserError && re.test(e.message));
  fails({ epsilons: ['one/255'] }, /c\.yaml: epsilons: item 0: expected a number >= 0 and <= 1, got "one\/255"/);
  fails({ epsilons: [] }, /epsilons: expected at least one budget/);
  fails({ norm: 'l2' }, /norm: expected one of linf/);
  fails({ step_size: 'big' }, /step_size: expected one of auto/);
});

test('pgd: sign steps of α, projected on the ε-box and on [0, 1], sign(0) = 0, the last iterate', () => {
  const n = 2;
  const x0 = Float32Array.from([0.5, 0.99, 0.02, 0.3, 0.7, 0, 0.5, 1, 0.2, 0.4, 0.6, 0.8]);
  const g = Float32Array.from([1, 1, -1, 0, -2, 3, -1, 1, 0, 2, -3, 1]);
  for (const [eps, steps, direction, start] of [[0.1, 3, 1, undefined], [0.1, 5, -1, undefined], [0.05, 4, 1, 0.7]] as const) {
    const alpha = stepSize(robust({ steps }), eps);
    const noise = start === undefined ? undefined : Float32Array.from(x0, (_, i) => ((i % 3) - 1) * eps * start);
    const got = tf.tidy(() => pgd(() => tf.tensor4d(g, [n, ...SHAPE]), tf.tensor4d(x0, [n, ...SHAPE]), { eps, steps, alpha, direction, start: noise }).dataSync());
    const expected = Array.from(x0, (v, i) => {
      let x = noise ? Math.min(1, Math.max(0, v + noise[i])) : v;
      for (let t = 0; t < steps; t++) x = Math.min(1, Math.max(0, Math.min(v + eps, Math.max(v - eps, x + direction * alpha * Math.sign(g[i])))));
      return x;
    });
    for (let i = 0; i < x0.length; i++) assert.ok(Math.abs(got[i] - expected[i]) < 1e-6, `ε ${eps}, pixel ${i}: got ${got[i]}, expected ${expected[i]}`);
  }
});

test('pixelView: trailing normalize steps fold into one affine map; a normalize before other steps is refused', () => {
  const base = pixels('p', 4, 1);
  const v = pixelView(new TransformedDataset(base, [NORMALIZE, { type: 'normalize', mean: [1], std: [4] }]), 'data.id.test');
  assert.equal(v.pixels, base);
  // ((p − 0.5)/0.5 − 1)/4 = p/2 − 0.5 and ((p − 0.25)/2 − 1)/4 = p/8 − 0.28125
  assert.deepEqual(Array.from(v.scale), [0.5, 0.125]);
  assert.deepEqual(Array.from(v.shift), [-0.5, -0.28125]);
  const plain = pixelView(base, 'x');
  assert.deepEqual([Array.from(plain.scale), Array.from(plain.shift)], [[1, 1], [0, 0]]);
  assert.throws(
    () => pixelView(new TransformedDataset(base, [NORMALIZE, { type: 'center_crop', size: [1, 2] }]), 'data.ood[1]'),
    (e: unknown) => e instanceof UserError && /data\.ood\[1\]: transforms: normalize is followed by center_crop/.test(e.message),
  );
});

test('pixel gradients of the energy: scale_c times the input gradient, against the closed form', async () => {
  const model = linearModel(2);
  const h = headOf(model);
  const set = new TransformedDataset(pixels('p', 5, 3), [NORMALIZE]);
  const view = pixelView(set, 'x');
  const det = createDetector('energy', { model, head: h }, params);
  const b = await view.pixels.read([0, 1, 2, 3, 4]);
  const g = tf.tidy(() => pixelGradient(model, det, tf.tensor4d(b.x, [5, ...SHAPE]), view).dataSync());
  const norms = await energyGradientNorms(model, view, 2);
  for (let i = 0; i < 5; i++) {
    const z = Array.from({ length: D }, (_, j) => view.scale[j % 2] * b.x[i * D + j] + view.shift[j % 2]);
    const f = Array.from({ length: K }, (_, k) => h.bias[k] + z.reduce((s, x, j) => s + x * h.weight[j * K + k], 0));
    const m = Math.max(...f);
    const p = f.map((x) => Math.exp(x - m) / f.reduce((s, y) => s + Math.exp(y - m), 0));
    // ∂ logsumexp(f)/∂p_j = scale_c(j) Σ_k p_k W_jk
    const expected = Array.from({ length: D }, (_, j) => view.scale[j % 2] * p.reduce((s, pk, k) => s + pk * h.weight[j * K + k], 0));
    for (let j = 0; j < D; j++) assert.ok(Math.abs(g[i * D + j] - expected[j]) < 1e-5, `sample ${i} pixel ${j}`);
    assert.ok(Math.abs(norms.l2[i] - Math.hypot(...expected)) < 1e-5, 'l2 norm');
    assert.ok(Math.abs(norms.l1[i] - expected.reduce((s, x) => s + Math.abs(x), 0)) < 1e-5, 'l1 norm');
  }
});

test('gradient_stats rows: mean, median, p95 per set; the ID share kept by S − ε‖∇S‖₁ >= threshold', () => {
  const l2 = Float64Array.from([1, 2, 3, 4]);
  const rows = gradientStatsRows(
    [
      { name: 'id', role: 'id', norms: { l2, l1: Float64Array.from([10, 10, 20, 40]) }, scores: [5, 6, 7, 8] },
      { name: 'ood', role: 'ood', norms: { l2: Float64Array.from([0, 10]), l1: Float64Array.from([0, 10]) }, scores: [0, 1] },
    ],
    5.5,
    [0.05, 0.1],
  );
  // S − ε‖∇S‖₁ against 5.5: ε = 0: 5, 6, 7, 8; ε = 0.05: 4.5, 5.5, 6, 6; ε = 0.1: 4, 5, 5, 4
  assert.deepEqual(rows.map((r) => [r.dataset, r.epsilon, r.kept]), [['id', 0, 0.75], ['id', 0.05, 0.75], ['id', 0.1, 0], ['ood', '', '']]);
  assert.deepEqual([rows[0].grad_l2_mean, rows[0].grad_l2_median], [2.5, 2.5]);
  assert.ok(Math.abs(rows[0].grad_l2_p95 - 3.85) < 1e-12, 'p95 interpolates between the order statistics 3 and 4');
  assert.deepEqual([rows[3].grad_l2_mean, rows[3].grad_l2_median, rows[3].n], [5, 5, 2]);
});

test('the attack at ε = 0 leaves the clean scores; at ε > 0 ID scores fall and OOD scores rise', async () => {
  const model = linearModel(4);
  const h = headOf(model);
  const id = pixelView(new TransformedDataset(pixels('id', 12, 5), [NORMALIZE]), 'id');
  const ood = pixelView(new TransformedDataset(pixels('ood', 10, 6, false), [NORMALIZE]), 'ood');
  const trainSet = new TransformedDataset(pixels('train', 30, 7), [NORMALIZE]);
  const o = await modelOutputs(model, trainSet, 8, { features: true });
  const train = { n: o.n, k: K, d: D, logits: o.logits, features: o.features!, labels: o.labels };
  for (const name of ['energy', 'odin', 'knn', 'mahalanobis'] as const) {
    const det = createDetector(name, { model, head: h }, { ...params, knn: { k: 3 } });
    det.fit?.(train);
    for (const [view, role] of [[id, 'id'], [ood, 'ood']] as const) {
      const clean: Float64Array = (await scoreSet(model, [det], new TransformedDataset(view.pixels, [NORMALIZE]), 5, view.scale)).scores[0];
      for (const random_start of [false, true]) {
        const zero = await attackedScores(model, det, view, role, 0, robust({ steps: 3, random_start }), new Rng(1), 5);
        assert.deepEqual(Array.from(zero), Array.from(clean), `${name} ${role}: ε = 0 gives the clean scores`);
      }
      const hit = await attackedScores(model, det, view, role, 8 / 255, robust({ steps: 5, random_start: false }), new Rng(1), 5);
      const mean = (a: ArrayLike<number>): number => Array.from(a).reduce((s, x) => s + x, 0) / a.length;
      if (role === 'id') assert.ok(mean(hit) < mean(clean), `${name}: ID scores pushed down (${mean(hit)} vs ${mean(clean)})`);
      else assert.ok(mean(hit) > mean(clean), `${name}: OOD scores pushed up (${mean(hit)} vs ${mean(clean)})`);
      const again = await attackedScores(model, det, view, role, 8 / 255, robust({ steps: 5, random_start: false }), new Rng(2), 3);
      assert.deepEqual(Array.from(again), Array.from(hit), `${name}: random_start false is deterministic and chunk-independent`);
    }
    det.dispose?.();
  }
});

test('evaluateModel: every detector, group averages, robust rows at ε = 0 equal to the clean metrics, gradient stats', async () => {
  const model = linearModel(8);
  const t = (ds: ArrayDataset): TransformedDataset => new TransformedDataset(ds, [NORMALIZE]);
  const scores = ['energy', 'msp', 'maxlogit', 'odin', 'mahalanobis', 'knn', 'vim', 'react', 'gradnorm'] as const;
  const logs: string[] = [];
  const ev = await evaluateModel(
    model,
    { idTrain: t(pixels('train', 40, 9)), idTest: t(pixels('test', 15, 10)), ood: [{ dataset: t(pixels('near', 9, 11, false)), group: 'near' }, { dataset: t(pixels('far', 8, 12, false)), group: 'far' }, { dataset: t(pixels('far2', 7, 13, false)), group: 'far' }] },
    { scores: [...scores], batch_size: 4, detectors: { ...params, knn: { k: 3 }, vim: { dim: 2 } }, robust: robust({ epsilons: [2 / 255], steps: 2 }), gradient_stats: true, fpr95: 'nearest', every_epoch: false },
    { seed: 0, log: (m) => logs.push(m) },
  );
  assert.deepEqual([...new Set(ev.rows.map((r) => r.score))], [...scores]);
  assert.deepEqual([...new Set(ev.rows.map((r) => r.ood_set))], ['near', 'far', 'far2', AVERAGE, `${AVERAGE}:near`, `${AVERAGE}:far`]);
  const of = (score: string, set: string) => ev.rows.find((r) => r.score === score && r.ood_set === set)!;
  const far = [of('knn', 'far'), of('knn', 'far2')];
  assert.ok(Math.abs(of('knn', 'average:far').auroc - (far[0].auroc + far[1].auroc) / 2) < 1e-15);
  assert.equal(of('knn', 'average:far').n_ood, 15);
  assert.deepEqual(ev.fitted.map((f) => f.name), ['mahalanobis', 'knn', 'vim', 'react']);
  assert.deepEqual(ev.sets.map((s) => [s.name, s.role, Object.keys(s.scores).join(',')]), [['test', 'id', scores.join(',')], ['near', 'ood', scores.join(',')], ['far', 'ood', scores.join(',')], ['far2', 'ood', scores.join(',')]]);
  // robust: every attackable score at ε = 0 (the clean metrics, exactly) and 2/255
  assert.ok(logs.some((m) => /gradnorm is not attacked/.test(m)));
  const attacked = [...new Set(ev.robust!.map((r) => r.score))];
  assert.deepEqual(attacked, scores.filter((s) => s !== 'gradnorm'));
  for (const r of ev.robust!.filter((x) => x.epsilon === 0)) {
    const m = of(r.score, r.ood_set);
    assert.deepEqual([r.fpr95, r.auroc, r.aupr_in, r.aupr_out], [m.fpr95, m.auroc, m.aupr_in, m.aupr_out], `${r.score} ${r.ood_set}`);
  }
  assert.equal(ev.robust!.length, attacked.length * 2 * 6);
  assert.deepEqual(ev.gradient!.rows.map((r) => [r.dataset, r.epsilon]), [['test', 0], ['test', 2 / 255], ['near', ''], ['far', ''], ['far2', '']]);
  assert.equal(ev.gradient!.sets[0].l2.length, 15);
});
