import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { fpr95, oodMetrics, rocPoints } from '../src/eval/metrics';
import { svgToPng } from '../src/report/png';
import { binDensity, fpr95Point, histogramSvg, legendHeight, MARGIN, movingAverage, niceTicks, rocSvg, trainingCurvesSvg } from '../src/report/svg';

// ID scores 1..20; OOD scores chosen so that two ROC points share TPR 95% (thresholds 2 and 1.5).
const ID = Array.from({ length: 20 }, (_, i) => i + 1);
const OOD = [0, 0.5, 1.5, 3.5, 10.5];

test('fpr95Point is the ROC point fpr95 reports: TPR nearest 95%, ties to the lower threshold', () => {
  const p = fpr95Point(ID, OOD);
  assert.equal(p.threshold, 1.5);
  assert.equal(p.tpr, 0.95);
  assert.equal(p.fpr, 3 / 5);
  assert.equal(p.fpr, fpr95(ID, OOD));
  assert.equal(rocPoints(ID, OOD).thresholds[p.index], 1.5);
});

test('histogram: both distributions and the threshold line at the threshold score', () => {
  const width = 640;
  const height = 420;
  const svg = histogramSvg({ score: 'energy', id: { name: 'digits', scores: ID }, ood: { name: 'noise <&>', scores: OOD }, threshold: fpr95Point(ID, OOD), xRange: [0, 20], width, height, bins: 20 });
  assert.match(svg, /^<\?xml[^]*<svg [^>]*font-family="sans-serif"/);
  assert.equal(svg.match(/class="hist-id"/g)?.length, 1);
  assert.equal(svg.match(/class="hist-ood"/g)?.length, 1);
  const line = svg.match(/<line class="threshold" data-threshold="([^"]+)" x1="([^"]+)" y1="([^"]+)" x2="([^"]+)" y2="([^"]+)"/);
  assert.ok(line, 'threshold line');
  const plotW = width - MARGIN.left - MARGIN.right;
  const expectX = MARGIN.left + (1.5 / 20) * plotW;
  assert.equal(Number(line[1]), 1.5);
  assert.ok(Math.abs(Number(line[2]) - expectX) < 0.01, `x1 ${line[2]} vs ${expectX}`);
  assert.equal(line[2], line[4], 'vertical');
  const top = MARGIN.top + legendHeight(3) + 6;
  assert.equal(Number(line[3]), top);
  assert.equal(Number(line[5]), height - MARGIN.bottom);
  assert.match(svg, /FPR95 threshold 1\.5: TPR 95\.0%, FPR 60\.0%/);
  assert.match(svg, /OOD: noise &lt;&amp;&gt; \(n=5\)/, 'names are escaped');
  // densities integrate to 1
  const d = binDensity(ID, 0, 20, 20);
  assert.ok(Math.abs(d.reduce((s, x) => s + x, 0) * 1 - 1) < 1e-12);
});

test('ROC: one curve per OOD set from (0,0) to (1,1), chance and TPR-95% lines, FPR95 markers', () => {
  const sets = [
    { name: 'a', scores: OOD },
    { name: 'b', scores: [5, 6, 7] },
  ];
  const svg = rocSvg(sets.map((s) => ({ name: s.name, roc: rocPoints(ID, s.scores), auroc: oodMetrics(ID, s.scores).auroc, fpr95: fpr95Point(ID, s.scores) })), { score: 'energy' });
  assert.equal(svg.match(/class="roc"/g)?.length, 2);
  assert.equal(svg.match(/class="fpr95"/g)?.length, 2);
  assert.match(svg, /class="chance"/);
  assert.match(svg, /class="tpr95"/);
  const first = svg.match(/<polyline class="roc" points="([^"]+)"/)![1].split(' ');
  const W = 520 - MARGIN.left - MARGIN.right;
  const H = 500 - MARGIN.top - MARGIN.bottom;
  assert.equal(first[0], `${MARGIN.left},${MARGIN.top + H}`, 'starts at (0, 0)');
  assert.equal(first.at(-1), `${MARGIN.left + W},${MARGIN.top}`, 'ends at (1, 1)');
  assert.match(svg, new RegExp(`a: AUROC ${(100 * oodMetrics(ID, OOD).auroc).toFixed(1)}%, FPR95 60\\.0%`));
});

test('training curves: one panel per loss component, accuracy and lr; PNG rendering', async () => {
  const rows = [1, 2, 3].map((e) => ({ epoch: e, loss: 2 / e, ce: 1.5 / e, energy: 0.3 / e, grad_reg: e === 1 ? 0 : 0.01 * e, train_acc: 0.5 + 0.1 * e, lr: 0.1 / e }));
  const svg = trainingCurvesSvg(rows, { title: 'run' });
  for (const k of ['loss', 'ce', 'energy', 'grad_reg', 'train_acc', 'lr']) assert.equal(svg.match(new RegExp(`class="curve-${k}"`, 'g'))?.length, 1, k);
  assert.match(svg, /gradient regularizer L_∇S/);
  assert.match(svg, /train accuracy \(%\)/);
  const png = await svgToPng(svg);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  const w = Number(svg.match(/<svg [^>]*width="(\d+)"/)![1]);
  assert.equal(meta.width, 2 * w, 'rendered at twice the SVG size');
  assert.deepEqual(niceTicks(1, 2, 5), [1, 1.2, 1.4, 1.6, 1.8, 2]);
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
});

test('training curves: warm-up epochs shaded without the margin losses; OE and validation AUROC panels when present', () => {
  const rows = [1, 2, 3].map((e) => ({ epoch: e, loss: 2 / e, ce: 1.5 / e, energy: e === 1 ? 0 : 0.3 / e, grad_reg: e === 1 ? 0 : 0.01 * e, oe: 0, train_acc: 0.5 + 0.1 * e, lr: 0.1 / e, m_in: e === 1 ? NaN : -7, val_auroc: 0.6 + 0.1 * e }));
  const svg = trainingCurvesSvg(rows);
  assert.equal(svg.match(/class="warmup"/g)?.length, 7, 'every panel shades epoch 1');
  const points = (k: string): number => svg.match(new RegExp(`class="curve-${k}" points="([^"]+)"`))![1].split(' ').length;
  assert.equal(points('energy'), 2, 'L_S is not drawn in the warm-up epoch');
  assert.equal(points('ce'), 3);
  assert.match(svg, /validation AUROC \(%\)/);
  assert.doesNotMatch(svg, /outlier exposure/, 'an all-zero OE term gets no panel');
  assert.match(trainingCurvesSvg(rows.map((r) => ({ ...r, oe: 0.2 }))), /outlier exposure L_OE/);
  assert.deepEqual(movingAverage([1, 2, 3, 4, 5], 3), [1.5, 2, 3, 4, 4.5]);
});

test('histogram: the training margins are drawn at -m on the energy score axis, which widens to show them', () => {
  const svg = histogramSvg({ score: 'energy', id: { name: 'id', scores: ID }, ood: { name: 'ood', scores: OOD }, margins: { mIn: -30, mOut: -2 } });
  assert.match(svg, /class="margin-in" data-score="30"/);
  assert.match(svg, /class="margin-out" data-score="2"/);
  const x = (cls: string): number => Number(svg.match(new RegExp(`class="${cls}" [^>]*x1="([\\d.]+)"`))![1]);
  assert.ok(x('margin-in') > x('margin-out'), 'the ID margin lies on the high-score side');
  assert.ok(x('margin-in') <= 640 - MARGIN.right, 'inside the plot');
});
