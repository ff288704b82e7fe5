/**
 * What the kernel tests of every backend share: seeded inputs, running one
 * function on two backends, an error measure, and the convolution geometries
 * (paddings of every kind, strides, odd sizes) each backend is checked at.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/engine/backend';

export type Arr = { shape: number[]; data: Float32Array };

/** Values in [-1, 1) from a linear congruential generator. */
export function randArr(shape: number[], seed: number): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 2 ** 32) * 2 - 1;
  }
  return { shape, data };
}

export const t = (a: Arr): tf.Tensor => tf.tensor(a.data, a.shape);

/** Runs f on the cpu backend (the reference) and on `other` with the same inputs. */
export async function onBoth(
  other: 'wasm' | 'native',
  f: () => tf.Tensor,
): Promise<{ cpu: Float32Array; other: Float32Array; shape: number[] }> {
  await useBackend('cpu');
  const rc = tf.tidy(f);
  const cpu = (await rc.data()) as Float32Array;
  const cpuShape = rc.shape;
  rc.dispose();
  await useBackend(other);
  const ro = tf.tidy(f);
  const got = (await ro.data()) as Float32Array;
  assert.deepEqual(ro.shape, cpuShape, `shapes differ between cpu and ${other}`);
  ro.dispose();
  return { cpu, other: got, shape: cpuShape };
}

/** Asserts max |a - b| / max(1, |b|) <= tol. */
export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i]));
    if (!(err <= worst)) worst = err;
  }
  assert.ok(worst <= tol, `${what}: max error ${worst} > ${tol}`);
}

export type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
export interface ConvCase {
  x: [number, number, number, number];
  k: [number, number];
  co: number;
  stride: number | [number, number];
  pad: Pad;
}

export const CONV_CASES: ConvCase[] = [
  { x: [2, 8, 8, 3], k: [3, 3], co: 4, stride: 1, pad: 'same' },
  { x: [2, 8, 8, 3], k: [3, 3], co: 4, stride: 1, pad: 'valid' },
  { x: [3, 9, 7, 2], k: [3, 3], co: 5, stride: 2, pad: 'same' },
  { x: [3, 9, 7, 2], k: [3, 3], co: 5, stride: 2, pad: 'valid' },
  { x: [2, 10, 10, 4], k: [5, 5], co: 3, stride: 2, pad: 'same' },
  { x: [2, 8, 8, 2], k: [3, 3], co: 3, stride: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 9, 9, 2], k: [3, 2], co: 3, stride: 2, pad: [[0, 0], [2, 1], [1, 0], [0, 0]] },
  { x: [4, 6, 6, 1], k: [1, 1], co: 6, stride: 1, pad: 'valid' },
  { x: [2, 12, 12, 3], k: [4, 4], co: 2, stride: 3, pad: 'same' },
  // strided Conv2DBackpropInput runs as per-phase convolutions on wasm: even/odd sizes,
  // mixed strides, phases without taps (kernel smaller than the stride: fallback)
  { x: [3, 28, 28, 4], k: [3, 3], co: 8, stride: 2, pad: 'same' },
  { x: [2, 9, 10, 3], k: [3, 3], co: 4, stride: [1, 2], pad: 'same' },
  { x: [2, 10, 9, 3], k: [3, 3], co: 4, stride: [2, 1], pad: 'valid' },
  { x: [2, 8, 8, 3], k: [2, 2], co: 4, stride: 2, pad: 'same' },
  { x: [2, 8, 7, 3], k: [1, 1], co: 4, stride: 2, pad: 'valid' },
  { x: [2, 11, 11, 2], k: [3, 3], co: 3, stride: 3, pad: 'same' },
  { x: [2, 9, 9, 2], k: [5, 3], co: 3, stride: [3, 2], pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
  // padding beyond the kernel: Conv2DBackpropInput falls back to the shipped kernel on wasm
  { x: [2, 6, 6, 2], k: [3, 3], co: 2, stride: 1, pad: [[0, 0], [3, 0], [0, 3], [0, 0]] },
  // small maps with many channels: the native backend computes these in plain NCHW
  { x: [2, 4, 4, 16], k: [3, 3], co: 8, stride: 1, pad: 'same' },
  { x: [2, 4, 4, 8], k: [3, 3], co: 8, stride: 2, pad: 'same' },
];

export function convLabel(c: ConvCase): string {
  return `x=${c.x} k=${c.k} co=${c.co} s=${c.stride} pad=${JSON.stringify(c.pad)}`;
}

/** The output shape of conv case c (computed on the active backend). */
export function convOutShape(c: ConvCase): number[] {
  const y = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros([c.k[0], c.k[1], c.x[3], c.co]) as tf.Tensor4D, c.stride, c.pad));
  const s = y.shape;
  y.dispose();
  return s;
}
