import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duration, fitSegments, formatTrainLine, lossText, Smoothed, TrainLineState } from '../src/cli/progress';

const state: TrainLineState = {
  epoch: 3,
  epochs: 10,
  step: 120,
  steps: 266,
  elapsed: 32.4,
  secondsPerStep: 0.25,
  imagesPerStep: 192,
  stepsLeft: 7 * 266 + 146,
  losses: { total: 1.23456, ce: 0.5612, energy: 0.3104, oe: 0.1, grad_reg: 0.0213 },
  active: ['ce', 'energy', 'grad_reg'],
  lr: 0.0491,
  warmup: false,
};

test('the training line at 160 columns: percentage, times, rates, run ETA, every active term, lr', () => {
  const line = formatTrainLine(state, 160);
  assert.ok(line.length <= 160, `${line.length}: ${line}`);
  assert.match(line, /^epoch 3\/10 \[=+ +\]  45% 120\/266 0:32<0:37 4\.00 step\/s 768 img\/s ETA 8:22 loss 1\.23 ce 0\.561 L_S 0\.31 L_gradS 0\.0213 lr 4\.9e-2$/);
  // (7 epochs x 266 steps + 146 steps) x 0.25 s = 502 s = 8:22, the whole run's ETA.
  assert.equal(/\[(=*)( *)\]/.exec(line)![0].length, 32, 'the bar at its widest');
});

test('at 80 columns the line fits, keeps the ETA and the loss terms, and drops the minor fields first', () => {
  const line = formatTrainLine(state, 80);
  assert.ok(line.length <= 80, `${line.length}: ${line}`);
  for (const f of ['epoch 3/10', ' 45%', 'ETA 8:22', 'loss 1.23', 'ce 0.561', 'L_S 0.31', 'L_gradS 0.0213']) assert.ok(line.includes(f), `${f} in ${line}`);
  assert.ok(!line.includes('lr '), 'the learning rate goes before the loss terms');
  const narrow = formatTrainLine(state, 40);
  assert.ok(narrow.length <= 40 && narrow.includes('ETA 8:22') && narrow.startsWith('epoch 3/10'), narrow);
});

test('warm-up epochs are marked, OE shows when active, and a long step shows its phase', () => {
  const warm = formatTrainLine({ ...state, warmup: true, active: ['ce'] }, 80);
  assert.match(warm, /\[warm-up\]/);
  assert.doesNotMatch(warm, /L_S/);
  assert.match(formatTrainLine({ ...state, active: ['ce', 'oe'] }, 160), / ce 0\.561 OE 0\.1 /);
  assert.match(formatTrainLine({ ...state, phase: 'scoring candidates 128/384' }, 80), /scoring candidates 128\/384/);
  // A piped log line has every field and no bar.
  const log = formatTrainLine({ ...state, warmup: true }, Infinity);
  assert.doesNotMatch(log, /\[=/);
  assert.match(log, /120\/266 .* ETA 8:22 .* lr 4\.9e-2 \[warm-up\]$/);
});

test('fitSegments: the bar fills what is left between its limits; lowest priority dropped first', () => {
  const segs = [{ text: 'aaaa', priority: 9 }, { bar: 0.5, priority: 1 }, { text: 'bb', priority: 5 }, { text: 'c', priority: 3 }];
  assert.equal(fitSegments(segs, 30), 'aaaa [=========         ] bb c');
  assert.equal(fitSegments(segs, 20), 'aaaa [====    ] bb c');
  assert.equal(fitSegments(segs, 19), 'aaaa bb c', 'the bar goes when it would be narrower than 8');
  assert.equal(fitSegments(segs, 7), 'aaaa bb');
  assert.equal(fitSegments(segs, 3), 'aaa');
});

test('durations, loss values and smoothing', () => {
  assert.equal(duration(5), '0:05');
  assert.equal(duration(506), '8:26');
  assert.equal(duration(3 * 3600 + 61), '3:01:01');
  assert.equal(duration(NaN), '?');
  assert.equal(lossText(1.23456), '1.23');
  assert.equal(lossText(0.0213), '0.0213');
  assert.equal(lossText(2.5e-5), '2.5e-5');
  assert.equal(lossText(1234.5), '1235');
  const s = new Smoothed(0.9);
  assert.equal(s.add(4), 4, 'bias-corrected: the first value is itself');
  assert.ok(Math.abs(s.add(2) - (0.9 * 0.1 * 4 + 0.1 * 2) / (1 - 0.81)) < 1e-12);
});
