import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCORES, energyScore, isScoreName, maxLogitScore, mspScore } from '../src/eval/scores';
import { UserError } from '../src/util/errors';

const close = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `got ${a}, expected ${b}`);

test('hand-computed scores on two rows of three classes', () => {
  const logits = new Float32Array([0, 0, 0, 1, 2, 3]);
  const e = energyScore(logits, 3);
  close(e[0], Math.log(3));
  close(e[1], Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
  const p = mspScore(logits, 3);
  close(p[0], 1 / 3);
  close(p[1], Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)));
  assert.deepEqual(Array.from(maxLogitScore(logits, 3)), [0, 3]);
});

test('large logits neither overflow nor underflow', () => {
  const logits = new Float32Array([1000, 1000, -1000, -1000]);
  close(energyScore(logits, 2)[0], 1000 + Math.log(2), 1e-9);
  close(energyScore(logits, 2)[1], -1000 + Math.log(2), 1e-9);
  close(mspScore(logits, 2)[0], 0.5);
  // A near-certain row keeps a score below 1 in float64 rather than a float32 tie at 1.
  const sure = mspScore(new Float32Array([30, 0]), 2)[0];
  assert.ok(sure < 1 && sure > 1 - 1e-12);
});

test('single class: energy = the logit, msp = 1', () => {
  assert.deepEqual(Array.from(energyScore([2.5, -1], 1)), [2.5, -1]);
  assert.deepEqual(Array.from(mspScore([2.5, -1], 1)), [1, 1]);
});

test('SCORES maps each name to its function', () => {
  assert.equal(SCORES.energy, energyScore);
  assert.equal(SCORES.msp, mspScore);
  assert.equal(SCORES.maxlogit, maxLogitScore);
  assert.ok(isScoreName('msp'));
  assert.ok(!isScoreName('odin'));
  assert.ok(!isScoreName('toString'));
});

test('bad shapes and non-finite logits are rejected', () => {
  const isUser = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message);
  assert.throws(() => energyScore(new Float32Array(5), 2), isUser(/5 values, not a multiple of 2 classes/));
  assert.throws(() => mspScore(new Float32Array(4), 0), isUser(/positive integer, got 0/));
  assert.throws(() => maxLogitScore(new Float32Array([0, 1, NaN, 2]), 2), isUser(/logit \[1, 0\] is NaN/));
});
