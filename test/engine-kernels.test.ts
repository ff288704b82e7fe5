/**
 * Each kernel grodd registers for the wasm backend, checked against the cpu
 * backend (the reference implementation of tfjs) to 1e-4.
 */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/engine/backend';
import { CONV_CASES, assertClose, convLabel, convOutShape, onBoth as onBothBackends, randArr, t } from './kernel-check';

const onBoth = async (f: () => tf.Tensor): Promise<{ cpu: Float32Array; wasm: Float32Array; shape: number[] }> => {
  const r = await onBothBackends('wasm', f);
  return { cpu: r.cpu, wasm: r.other, shape: r.shape };
};

describe('wasm kernels vs cpu', () => {
  before(async () => {
    await useBackend('cpu');
    await useBackend('wasm');
  });

  for (const [i, c] of CONV_CASES.entries()) {
    const label = convLabel(c);
    it(`Conv2DBackpropFilter ${label}`, async () => {
      const ys = convOutShape(c);
      const x = randArr(c.x, 11 + i);
      const dy = randArr(ys, 101 + i);
      const r = await onBoth(() =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: t(x), dy: t(dy) }, {
          strides: c.stride,
          pad: c.pad,
          dataFormat: 'NHWC',
          filterShape: [c.k[0], c.k[1], c.x[3], c.co],
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      );
      assert.deepEqual(r.shape, [c.k[0], c.k[1], c.x[3], c.co]);
      assertClose(r.wasm, r.cpu, 1e-4, 'dW');
    });
    it(`Conv2DBackpropInput ${label}`, async () => {
      const ys = convOutShape(c);
      const w = randArr([c.k[0], c.k[1], c.x[3], c.co], 7 + i);
      const dy = randArr(ys, 55 + i);
      const r = await onBoth(() => tf.conv2dTranspose(t(dy) as tf.Tensor4D, t(w) as tf.Tensor4D, c.x, c.stride, c.pad));
      assert.deepEqual(r.shape, c.x);
      assertClose(r.wasm, r.cpu, 1e-4, 'dx');
    });
  }

  it('Conv2D training gradients (dx and dW through tf.grads) agree', async () => {
    const x = randArr([2, 7, 7, 3], 3);
    const w = randArr([3, 3, 3, 4], 4);
    for (const stride of [1, 2]) {
      const r = await onBoth(() => {
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same'))),
        )([t(x), t(w)]);
        return tf.concat([tf.reshape(gx, [-1]), tf.reshape(gw, [-1])]);
      });
      assertClose(r.wasm, r.cpu, 1e-4, `grads stride ${stride}`);
    }
  });

  const reduceCases: Array<{ shape: number[]; axis: number[]; keepDims: boolean }> = [
    { shape: [4, 5, 6, 3], axis: [0, 1, 2], keepDims: false },
    { shape: [4, 5, 6, 3], axis: [0, 1, 2], keepDims: true },
    { shape: [4, 5, 6, 3], axis: [1, 2], keepDims: false },
    { shape: [4, 5, 6, 3], axis: [0], keepDims: false },
    { shape: [7, 3], axis: [0], keepDims: true },
    { shape: [13, 2, 5], axis: [0, 1], keepDims: false }, // prime-ish block size
    { shape: [4, 5, 6, 3], axis: [3], keepDims: false }, // trailing: shipped kernel
    { shape: [4, 5, 6, 3], axis: [0, 2], keepDims: false }, // non-contiguous: shipped kernel
    { shape: [64, 16, 16, 8], axis: [0, 1, 2], keepDims: false }, // large block
  ];
  for (const rc of reduceCases) {
    for (const op of ['sum', 'mean'] as const) {
      it(`${op === 'sum' ? 'Sum' : 'Mean'} shape=${rc.shape} axis=${rc.axis} keepDims=${rc.keepDims}`, async () => {
        const x = randArr(rc.shape, rc.shape.length * 31 + rc.axis.length);
        const r = await onBoth(() => tf[op](t(x), rc.axis, rc.keepDims));
        assertClose(r.wasm, r.cpu, op === 'sum' ? 1e-4 * Math.sqrt(x.data.length) : 1e-4, op);
      });
    }
  }
  it('Sum of int32 stays exact (shipped kernel)', async () => {
    const r = await onBoth(() => tf.cast(tf.sum(tf.tensor([[1, 2], [3, 4]], undefined, 'int32'), 0), 'float32'));
    assert.deepEqual(Array.from(r.wasm), [4, 6]);
  });

  it('LogSoftmax', async () => {
    for (const shape of [[5, 7], [3, 4, 10], [1, 1]]) {
      const x = randArr(shape, 9);
      const r = await onBoth(() => tf.logSoftmax(tf.mul(t(x), 20)));
      assertClose(r.wasm, r.cpu, 1e-4, `logSoftmax ${shape}`);
    }
  });

  it('BroadcastTo', async () => {
    const cases: Array<[number[], number[]]> = [
      [[3], [4, 3]],
      [[1, 3], [5, 3]],
      [[2, 1, 3], [2, 4, 3]],
      [[4, 1], [2, 4, 5]],
      [[2, 3], [2, 3]],
    ];
    for (const [from, to] of cases) {
      const x = randArr(from, 5);
      const r = await onBoth(() => tf.broadcastTo(t(x), to));
      assertClose(r.wasm, r.cpu, 1e-6, `broadcastTo ${from}->${to}`);
    }
  });

  it('UnsortedSegmentSum (and gather gradient)', async () => {
    const x = randArr([6, 3, 2], 8);
    const ids = [2, 0, 2, 1, 4, 0];
    const r = await onBoth(() => tf.unsortedSegmentSum(t(x), tf.tensor1d(ids, 'int32'), 5));
    assertClose(r.wasm, r.cpu, 1e-5, 'unsortedSegmentSum');
    const table = randArr([5, 4], 9);
    const g = await onBoth(() =>
      tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.gather(a, tf.tensor1d([0, 3, 3, 1], 'int32')))))(t(table)),
    );
    assertClose(g.wasm, g.cpu, 1e-5, 'gather grad');
    const ri = await onBoth(() =>
      tf.cast(tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4], 'int32'), tf.tensor1d([1, 1, 0, 1], 'int32'), 2), 'float32'),
    );
    assert.deepEqual(Array.from(ri.wasm), [3, 7]);
  });

  for (const [k, stride, pad] of [
    [2, 1, 'same'],
    [2, 2, 'valid'],
    [3, 2, 'same'],
    [3, 1, 'valid'],
  ] as const) {
    it(`MaxPoolWithArgmax and MaxPoolGrad k=${k} s=${stride} ${pad} (negative windows included)`, async () => {
      const x = randArr([2, 7, 7, 3], 60 + k + stride);
      for (let i = 0; i < 20; i++) x.data[i] = -Math.abs(x.data[i]) - 0.1; // all-negative windows
      const idx = await onBoth(() => tf.cast(tf.maxPoolWithArgmax(t(x) as tf.Tensor4D, k, stride, pad, true).indexes, 'float32'));
      assert.deepEqual(Array.from(idx.wasm), Array.from(idx.cpu));
      const pooled = await onBoth(() => tf.maxPoolWithArgmax(t(x) as tf.Tensor4D, k, stride, pad, true).result);
      assertClose(pooled.wasm, pooled.cpu, 1e-6, 'pooled');
      const g = await onBoth(() => {
        const xt = t(x) as tf.Tensor4D;
        const y = tf.maxPool(xt, k, stride, pad);
        const dy = t(randArr(y.shape, 70));
        return tf.engine().runKernel('MaxPoolGrad', { dy, input: xt, output: y }, { filterSize: k, strides: stride, pad } as unknown as tf.NamedAttrMap) as tf.Tensor;
      });
      assertClose(g.wasm, g.cpu, 1e-5, 'MaxPoolGrad');
    });
  }

  it('Cast: same dtype aliases, conversions still convert', async () => {
    const r = await onBoth(() => tf.cast(tf.cast(tf.tensor([1.7, -2.2, 0, 3.9]), 'int32'), 'float32'));
    assert.deepEqual(Array.from(r.wasm), Array.from(r.cpu));
    const b = await onBoth(() => tf.cast(tf.cast(tf.tensor([0, 2, -1]), 'bool'), 'float32'));
    assert.deepEqual(Array.from(b.wasm), [0, 1, 1]);
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const a = tf.tensor([1, 2]);
    const c = tf.cast(a, 'float32');
    a.dispose();
    assert.deepEqual(Array.from(await c.data()), [1, 2]);
    c.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('Conv2DBackpropInput reuses its rearranged filter and frees it with the filter', async () => {
    await useBackend('wasm');
    const live = () => (tf.backend() as unknown as { dataIdMap: { numDataIds(): number } }).dataIdMap.numDataIds();
    const dy = t(randArr([2, 4, 4, 6], 5)) as tf.Tensor4D;
    // A call with a throwaway filter frees the entries of filters disposed before it and leaves only its own.
    const settle = (seed: number) => {
      const w = t(randArr([3, 3, 4, 6], seed)) as tf.Tensor4D;
      tf.dispose([tf.conv2dTranspose(dy, w, [2, 4, 4, 4], 1, 'same'), w]);
    };
    settle(97);
    const baseline = live();
    for (const stride of [1, 2]) {
      const w = t(randArr([3, 3, 4, 6], 6 + stride)) as tf.Tensor4D;
      const inShape: [number, number, number, number] = [2, 4 * stride, 4 * stride, 4];
      const a = tf.conv2dTranspose(dy, w, inShape, stride, 'same');
      const afterFirst = live();
      const b = tf.conv2dTranspose(dy, w, inShape, stride, 'same');
      assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()), 'same result from the cached filter');
      assert.equal(live(), afterFirst + 1, 'the second call adds only its output');
      tf.dispose([a, b, w]);
    }
    settle(98);
    assert.equal(live(), baseline, 'the entries of the disposed filters are gone');
    dy.dispose();
  });

  it('Identity aliases without breaking disposal', async () => {
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const a = tf.tensor([1, 2, 3]);
    const b = tf.engine().runKernel('Identity', { x: a }, {}) as tf.Tensor;
    a.dispose();
    assert.deepEqual(Array.from(await b.data()), [1, 2, 3]);
    b.dispose();
    assert.equal(tf.memory().numTensors, before);
    // a variable initialised from a tensor must not change it on assign
    const c = tf.tensor([5, 6]);
    const v = tf.variable(c);
    v.assign(tf.tensor([7, 8]));
    assert.deepEqual(Array.from(await c.data()), [5, 6]);
    assert.deepEqual(Array.from(await v.data()), [7, 8]);
    tf.dispose([c, v]);
  });
});
