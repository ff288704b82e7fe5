/**
 * Every kernel of the native (libtorch) backend against the cpu backend, the
 * reference implementation of tfjs: values to 1e-5 relative, and for the
 * differentiable ones the gradient of a random projection of the output with
 * respect to each float input (which runs the backward kernels natively too).
 * Also: every registered native kernel is exercised by some case, no case
 * leaves a tensor behind in tfjs or in ATen, and dtypes follow tfjs.
 */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/engine/backend';
import { nativeAddon } from '../src/engine/native/aten';
import { batchNormTrain } from '../src/nn/batch-norm';
import { NATIVE_KERNELS } from '../src/engine/native/kernels';
import { CONV_CASES, assertClose, convLabel, convOutShape, randArr, t, type Arr } from './kernel-check';
import { nativeSkipReason } from './test-backend';

const skip = nativeSkipReason();

interface Case {
  name: string;
  inputs: Arr[];
  /** Inputs not to differentiate (indices, masks) are made inside f. */
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
  grad?: boolean;
  /** Also the gradients, with respect to these inputs, of the squared norm of the first input's gradient (double backprop, as the regularizer takes it). */
  grad2?: number[];
  tol?: number;
}

/** Batch norm in training mode (fused on native, composite on cpu), its statistics too. */
const bnCase = (shape: number[], seed: number): Case => ({
  name: `batch norm (train) ${shape}`,
  inputs: [r(shape, seed), pos(r([shape[3]], seed + 1)), r([shape[3]], seed + 2)],
  f: (x, g, b) => {
    const { y, mean, variance } = batchNormTrain(tf.mul(x, 3), g, b);
    return [y, mean, variance];
  },
  grad: true,
  grad2: [0, 1],
  tol: 2e-5,
});

const r = randArr;
const i32 = (v: number[], shape?: number[]): tf.Tensor1D => {
  const x: tf.Tensor = tf.tensor(v, shape ?? [v.length], 'int32');
  return x as tf.Tensor1D;
};
const pos = (a: Arr): Arr => ({ shape: a.shape, data: a.data.map((v) => Math.abs(v) + 0.1) });

const unary: [string, (x: tf.Tensor) => tf.Tensor, boolean, Arr?][] = [
  ['abs', tf.abs, true],
  ['neg', tf.neg, true],
  ['exp', tf.exp, true],
  ['expm1', tf.expm1, true],
  ['log', tf.log, true, pos(r([3, 4], 2))],
  ['log1p', tf.log1p, true, pos(r([3, 4], 3))],
  ['sqrt', tf.sqrt, true, pos(r([3, 4], 4))],
  ['rsqrt', tf.rsqrt, true, pos(r([3, 4], 5))],
  ['square', tf.square, true],
  ['reciprocal', tf.reciprocal, true, pos(r([3, 4], 6))],
  ['relu', tf.relu, true],
  ['relu6', (x) => tf.relu6(tf.mul(x, 8)), true],
  ['sigmoid', tf.sigmoid, true],
  ['tanh', tf.tanh, true],
  ['sign', tf.sign, false],
  ['floor', (x) => tf.floor(tf.mul(x, 3)), false],
  ['ceil', (x) => tf.ceil(tf.mul(x, 3)), false],
  ['round', (x) => tf.round(tf.mul(x, 3)), false],
  ['sin', tf.sin, true],
  ['cos', tf.cos, true],
  ['erf', tf.erf, true],
  ['elu', tf.elu, true],
  ['softplus', (x) => tf.softplus(tf.mul(x, 10)), true],
  ['leakyRelu', (x) => tf.leakyRelu(x, 0.3), true],
  ['step', (x) => tf.step(x, 0.25), false],
  ['clipByValue', (x) => tf.clipByValue(x, -0.4, 0.6), true],
  ['isNaN', (x) => tf.isNaN(tf.div(x, tf.round(x))), false],
  ['isInf', (x) => tf.isInf(tf.div(x, tf.round(x))), false],
  ['isFinite', (x) => tf.isFinite(tf.div(x, tf.round(x))), false],
  ['logicalNot', (x) => tf.logicalNot(tf.greater(x, 0)), false],
];

const binary: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, boolean][] = [
  ['add', tf.add, true],
  ['sub', tf.sub, true],
  ['mul', tf.mul, true],
  ['div', (a, b) => tf.div(a, tf.add(tf.abs(b), 0.5)), true],
  ['pow', (a, b) => tf.pow(tf.add(tf.abs(a), 0.5), b), true],
  ['mod', (a, b) => tf.mod(tf.mul(a, 5), tf.add(tf.abs(b), 0.5)), false],
  ['floorDiv', (a, b) => tf.floorDiv(tf.mul(a, 5), tf.add(tf.abs(b), 0.5)), false],
  ['atan2', tf.atan2, true],
  ['prelu', (a, b) => tf.prelu(a, b), true],
  ['equal', (a, b) => tf.equal(tf.round(a), tf.round(b)), false],
  ['notEqual', (a, b) => tf.notEqual(tf.round(a), tf.round(b)), false],
  ['greater', tf.greater, false],
  ['greaterEqual', tf.greaterEqual, false],
  ['less', tf.less, false],
  ['lessEqual', tf.lessEqual, false],
  ['logicalAnd', (a, b) => tf.logicalAnd(tf.greater(a, 0), tf.greater(b, 0)), false],
  ['logicalOr', (a, b) => tf.logicalOr(tf.greater(a, 0), tf.greater(b, 0)), false],
  ['where', (a, b) => tf.where(tf.greater(a, b), a, b), true],
];

const cases: Case[] = [
  ...unary.map(([name, f, grad, x]): Case => ({ name, inputs: [x ?? r([3, 4], 1)], f, grad })),
  // broadcasting [3, 4] against [4]
  ...binary.map(([name, f, grad]): Case => ({ name, inputs: [r([3, 4], 7), r([4], 8)], f, grad })),
  // tfjs's gradients of these do not reduce a broadcast input: same shapes
  { name: 'maximum / minimum / squaredDifference', inputs: [r([3, 4], 52), r([3, 4], 53)], f: (a, b) => [tf.maximum(a, b), tf.minimum(a, b), tf.squaredDifference(a, b)], grad: true },
  { name: 'add broadcast both ways', inputs: [r([3, 1, 5], 9), r([4, 1], 10)], f: tf.add, grad: true },
  { name: 'int32 arithmetic stays int32', inputs: [], f: () => [tf.add(i32([1, 2, 3]), i32([4, 5, 6])), tf.mul(i32([7, -2]), i32([3, 3]))] },
  { name: 'cast float->int32 truncates, ->bool is x != 0', inputs: [], f: () => [tf.cast(tf.tensor([1.7, -2.2, 0, 3.9]), 'int32'), tf.cast(tf.tensor([0, 2, -1]), 'bool'), tf.cast(tf.tensor([true, false], undefined, 'bool'), 'float32')] },
  { name: 'identity and same-dtype cast', inputs: [r([5], 11)], f: (x) => [tf.clone(x), tf.cast(x, 'float32')], grad: true },
  // reductions
  ...[
    [[0, 1, 2], false],
    [[1, 2], true],
    [[3], false],
    [[0, 2], false],
    [[-1], true],
  ].flatMap(([axis, keep]): Case[] => [
    { name: `sum ${axis} ${keep}`, inputs: [r([4, 5, 6, 3], 12)], f: (x) => tf.sum(x, axis as number[], keep as boolean), grad: true },
    { name: `mean ${axis} ${keep}`, inputs: [r([4, 5, 6, 3], 13)], f: (x) => tf.mean(x, axis as number[], keep as boolean), grad: true },
    { name: `max ${axis} ${keep}`, inputs: [r([4, 5, 6, 3], 14)], f: (x) => tf.max(x, axis as number[], keep as boolean), grad: true },
    { name: `min ${axis} ${keep}`, inputs: [r([4, 5, 6, 3], 15)], f: (x) => tf.min(x, axis as number[], keep as boolean), grad: true },
  ]),
  { name: 'sum over all axes', inputs: [r([4, 5], 16)], f: (x) => tf.sum(x), grad: true },
  { name: 'sum of int32 and bool is int32', inputs: [], f: () => [tf.sum(i32([1, 2, 3, 4], [2, 2]), 0), tf.sum(tf.tensor([true, true, false], undefined, 'bool'))] },
  { name: 'prod', inputs: [r([3, 4, 2], 17)], f: (x) => tf.prod(tf.add(x, 1.5), [0, 2]) },
  { name: 'all / any', inputs: [r([3, 4], 18)], f: (x) => [tf.all(tf.greater(x, -0.5), 1), tf.any(tf.greater(x, 0.8), 0)] },
  { name: 'argMax / argMin', inputs: [r([4, 7], 19)], f: (x) => [tf.argMax(x, 1), tf.argMin(x, 0), tf.argMax(x, -1)] },
  { name: 'logSumExp', inputs: [r([6, 5], 20)], f: (x) => tf.logSumExp(tf.mul(x, 10), 1), grad: true },
  { name: 'softmax', inputs: [r([6, 5], 21)], f: (x) => tf.softmax(tf.mul(x, 5)), grad: true },
  { name: 'logSoftmax', inputs: [r([3, 4, 10], 22)], f: (x) => tf.logSoftmax(tf.mul(x, 20)), grad: true },
  { name: 'cumsum', inputs: [r([4, 5], 23)], f: (x) => [tf.cumsum(x, 1), tf.cumsum(x, 1, false, true), tf.cumsum(x, 1, true, true)], grad: true },
  // tfjs's cumsum gradient is wrong for a leading axis: values only
  { name: 'cumsum leading axis', inputs: [r([4, 5], 24)], f: (x) => [tf.cumsum(x, 0), tf.cumsum(x, 0, true, false)] },
  // shapes
  { name: 'reshape / expandDims / squeeze', inputs: [r([2, 3, 4], 124)], f: (x) => [tf.reshape(x, [4, -1]), tf.expandDims(x, 1), tf.squeeze(tf.reshape(x, [2, 1, 12]))], grad: true },
  { name: 'transpose', inputs: [r([2, 3, 4, 5], 25)], f: (x) => [tf.transpose(x, [3, 1, 0, 2]), tf.transpose(x)], grad: true },
  { name: 'reverse', inputs: [r([3, 4, 5], 26)], f: (x) => [tf.reverse(x, [0, 2]), tf.reverse(x, -1)], grad: true },
  { name: 'tile', inputs: [r([2, 3], 27)], f: (x) => tf.tile(x, [3, 2]), grad: true },
  { name: 'broadcastTo', inputs: [r([4, 1], 28)], f: (x) => [tf.broadcastTo(x, [2, 4, 5]), tf.broadcastTo(x, [4, 3])], grad: true },
  { name: 'slice', inputs: [r([5, 6, 3], 29)], f: (x) => [tf.slice(x, [1, 2, 0], [3, -1, 2]), tf.slice(x, 2)], grad: true },
  { name: 'slice int32', inputs: [], f: () => tf.slice(i32([1, 2, 3, 4, 5, 6], [2, 3]), [0, 1], [2, 2]) },
  { name: 'pad', inputs: [r([2, 3, 4], 30)], f: (x) => [tf.pad(x, [[1, 0], [0, 2], [3, 1]], 0.5), tf.pad(x, [[0, 0], [1, 1], [0, 0]])], grad: true },
  { name: 'mirrorPad', inputs: [r([4, 5], 31)], f: (x) => [tf.mirrorPad(x, [[2, 1], [1, 3]], 'reflect'), tf.mirrorPad(x, [[1, 2], [3, 0]], 'symmetric')], grad: true },
  { name: 'concat', inputs: [r([2, 3], 32), r([2, 4], 33)], f: (a, b) => [tf.concat([a, b], 1), tf.concat([a, a], 0), tf.concat([a, b], -1)], grad: true },
  { name: 'stack / unstack', inputs: [r([3, 4], 34), r([3, 4], 35)], f: (a, b) => [tf.stack([a, b], 1), ...tf.unstack(a, 1)], grad: true },
  { name: 'split', inputs: [r([6, 4], 36)], f: (x) => [...tf.split(x, 3, 0), ...tf.split(x, [1, -1, 2], 1)], grad: true },
  { name: 'gather', inputs: [r([5, 4, 2], 37)], f: (x) => [tf.gather(x, i32([0, 3, 3, 1])), tf.gather(x, i32([1, 0], [1, 2]), 1)], grad: true },
  { name: 'oneHot (out-of-range rows are off)', inputs: [], f: () => [tf.oneHot(i32([0, 2, 5, -1, 1]), 4), tf.oneHot(i32([1, 0]), 3, 7, -2)] },
  { name: 'unsortedSegmentSum (out-of-range ids dropped)', inputs: [r([6, 3, 2], 38)], f: (x) => tf.unsortedSegmentSum(x, i32([2, 0, 2, 1, 4, -1]), 5), grad: true },
  // (the cpu backend returns float32 here; int32 in, int32 out on native)
  { name: 'unsortedSegmentSum int32', inputs: [], f: () => tf.cast(tf.unsortedSegmentSum(i32([1, 2, 3, 4]), i32([1, 1, 0, 1]), 2), 'float32') },
  { name: 'fill / zerosLike / onesLike', inputs: [r([2, 3], 39)], f: (x) => [tf.fill([2, 2], 3.5), tf.fill([3], 4, 'int32'), tf.zerosLike(x), tf.onesLike(x)] },
  { name: 'range', inputs: [], f: () => [tf.range(0, 5), tf.range(5, 0, -1.5), tf.range(2, 11, 3, 'int32'), tf.range(3, 3)] },
  { name: 'topk', inputs: [r([3, 8], 40)], f: (x) => { const { values, indices } = tf.topk(x, 3); return [values, indices]; } },
  { name: 'addN', inputs: [r([3, 4], 41), r([3, 4], 42), r([3, 4], 43), r([3, 4], 44)], f: (a, b, c, d) => [tf.addN([a, b, c, d]), tf.addN([a, b])], grad: true },
  { name: 'matMul', inputs: [r([5, 7], 45), r([7, 3], 46)], f: (a, b) => tf.matMul(a, b), grad: true },
  { name: 'matMul transposed', inputs: [r([7, 5], 47), r([3, 7], 48)], f: (a, b) => tf.matMul(a, b, true, true), grad: true },
  { name: 'batched matMul', inputs: [r([2, 4, 5], 49), r([2, 5, 3], 50)], f: (a, b) => tf.matMul(a, b), grad: true },
  // tfjs's gradient does not reduce a broadcast batch: values only
  { name: 'batched matMul with broadcast', inputs: [r([2, 4, 5], 54), r([5, 3], 55)], f: (a, b) => tf.matMul(a, b) },
  // pooling: symmetric, asymmetric ('same' at stride 2 on even sizes) and windows of negative values
  ...(
    [
      [2, 1, 'same'],
      [2, 2, 'valid'],
      [3, 2, 'same'],
      [3, 1, 'valid'],
      [3, 2, 1],
    ] as const
  ).flatMap(([k, s, pad]): Case[] => {
    const x = r([2, 8, 7, 3], 51 + k + s);
    for (let i = 0; i < 20; i++) x.data[i] = -Math.abs(x.data[i]) - 0.1;
    return [
      { name: `maxPool k=${k} s=${s} ${pad}`, inputs: [x], f: (a) => tf.maxPool(a as tf.Tensor4D, k, s, pad), grad: true },
      { name: `avgPool k=${k} s=${s} ${pad}`, inputs: [x], f: (a) => tf.avgPool(a as tf.Tensor4D, k, s, pad), grad: true },
    ];
  }),
  ...(
    [
      [2, 1, 'same', true],
      [3, 2, 'same', false],
      [2, 2, 'valid', true],
    ] as const
  ).map(([k, s, pad, batch]): Case => ({
    name: `maxPoolWithArgmax k=${k} s=${s} ${pad} batchInIndex=${batch}`,
    inputs: [r([2, 7, 6, 3], 60 + k)],
    f: (a) => {
      const { result, indexes } = tf.maxPoolWithArgmax(a as tf.Tensor4D, k, s, pad, batch);
      return [result, indexes];
    },
  })),
  bnCase([4, 5, 6, 3], 120),
  bnCase([2, 3, 3, 16], 125),
  { name: 'relu, second order', inputs: [r([4, 6], 130)], f: (x) => tf.relu(tf.mul(tf.sub(x, 0.1), x)), grad2: [0] },
  {
    name: 'conv + relu + batch norm chain, second order',
    inputs: [r([3, 6, 6, 2], 131), r([3, 3, 2, 4], 132), pos(r([4], 133)), r([4], 134)],
    f: (x, w, g, b) => tf.relu(batchNormTrain(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), g, b).y),
    grad: true,
    grad2: [0, 1, 2],
    tol: 5e-5,
  },
  // convolutions: forward, and both gradients through tf.grads
  ...CONV_CASES.map(
    (c, i): Case => ({
      name: `conv2d ${convLabel(c)}`,
      inputs: [r(c.x, 70 + i), r([c.k[0], c.k[1], c.x[3], c.co], 90 + i)],
      f: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad),
      grad: true,
    }),
  ),
  {
    name: 'conv2dTranspose (Conv2DBackpropInput)',
    inputs: [r([2, 4, 4, 6], 110), r([3, 3, 4, 6], 111)],
    f: (dy, w) => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [2, 8, 8, 4], 2, 'same'),
    grad: true,
  },
];

interface Result {
  values: (Float32Array | Int32Array | Uint8Array)[];
  dtypes: string[];
  shapes: number[][];
}

/** Runs a case on the active backend: its outputs and, if asked, the gradients of a random projection. */
/** A random projection of f's float outputs to a scalar. */
function projected(c: Case, ys: tf.Tensor[]): tf.Scalar {
  const o = ([] as tf.Tensor[]).concat(c.f(...ys));
  return tf.addN(o.filter((v) => v.dtype === 'float32').map((v, i) => tf.sum(tf.mul(v, t(randArr(v.shape, 500 + i)))))) as tf.Scalar;
}

function run(c: Case): Result {
  const res = tf.tidy(() => {
    const xs = c.inputs.map(t);
    const outs = ([] as tf.Tensor[]).concat(c.f(...xs));
    if (c.grad) outs.push(...tf.grads((...ys: tf.Tensor[]) => projected(c, ys))(xs));
    if (c.grad2) {
      const wrt = c.grad2;
      // d/dθ of ||d projected / d x0||², θ the inputs named by grad2.
      const g2 = tf.grads((...thetas: tf.Tensor[]) => {
        const ys = xs.map((x, i) => (wrt.includes(i) ? thetas[wrt.indexOf(i)] : x));
        const gx = tf.grad((x0: tf.Tensor) => projected(c, [x0, ...ys.slice(1)]))(ys[0]);
        return tf.sum(tf.square(gx));
      });
      outs.push(...g2(wrt.map((i) => xs[i])));
    }
    return outs;
  });
  const result = { values: res.map((v) => v.dataSync() as Float32Array), dtypes: res.map((v) => v.dtype as string), shapes: res.map((v) => v.shape) };
  tf.dispose(res);
  return result;
}

describe('native kernels vs cpu', { skip }, () => {
  const seen = new Set<string>();
  before(async () => {
    await useBackend('cpu');
    await useBackend('native');
  });

  for (const c of cases) {
    it(c.name, async () => {
      await useBackend('cpu');
      const ref = run(c);
      await useBackend('native');
      const live = tf.memory().numTensors;
      const prof = await tf.profile(() => {
        run(c);
      });
      for (const k of prof.kernelNames) seen.add(k);
      const got = run(c);
      assert.equal(tf.memory().numTensors, live, 'no tensor left behind');
      const native = tf.memory() as unknown as { nativeTensors: number };
      assert.equal(native.nativeTensors, tf.backend().numDataIds(), 'every ATen tensor belongs to a live tfjs buffer');
      assert.deepEqual(got.dtypes, ref.dtypes, 'dtypes');
      assert.deepEqual(got.shapes, ref.shapes, 'shapes');
      got.values.forEach((v, i) => {
        if (ref.dtypes[i] === 'float32') assertClose(v, ref.values[i], c.tol ?? 1e-5, `output ${i}`);
        else assert.deepEqual(Array.from(v), Array.from(ref.values[i]), `output ${i}`);
      });
    });
  }

  it('every registered native kernel is exercised by a case above', () => {
    // The fused optimizer updates are checked against the composite ones in test/train-optimizers.test.ts.
    const elsewhere = new Set(['GroddSgdUpdate', 'GroddAdamUpdate']);
    const missing = NATIVE_KERNELS.map((k) => k.kernelName).filter((k) => !seen.has(k) && !elsewhere.has(k));
    assert.deepEqual(missing, []);
  });

  it('a kernel the native backend lacks fails with an error naming it', async () => {
    await useBackend('native');
    assert.throws(() => tf.tidy(() => tf.depthToSpace(tf.zeros([1, 2, 2, 4]) as tf.Tensor4D, 2)), /Kernel 'DepthToSpace' not registered for backend 'native'/);
  });

  it('readSync, read, dispose and memory report real data', async () => {
    await useBackend('native');
    const before = tf.memory() as unknown as { nativeBytes: number; numTensors: number };
    const a = tf.tensor([1, 2, 3, 4], [2, 2]);
    const after = tf.memory() as unknown as { nativeBytes: number; numTensors: number };
    assert.equal(after.nativeBytes - before.nativeBytes, 16);
    assert.deepEqual(Array.from(await a.data()), [1, 2, 3, 4]);
    assert.deepEqual(a.arraySync(), [[1, 2], [3, 4]]);
    a.dispose();
    assert.equal((tf.memory() as unknown as { nativeBytes: number }).nativeBytes, before.nativeBytes);
  });

  it('the device-generic forms of the fused kernels (what CUDA runs) equal the CPU loops', async () => {
    await useBackend('native');
    const addon = nativeAddon();
    const bn = cases.find((c) => c.name.startsWith('conv + relu + batch norm chain'))!;
    const sgd = (): Float32Array =>
      tf.tidy(() => {
        const w = t(randArr([40, 3], 1));
        const [w2] = tf.engine().runKernel('GroddSgdUpdate', { w, g: t(randArr([40, 3], 2)), buf: t(randArr([40, 3], 3)) }, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: true } as never) as tf.Tensor[];
        return w2;
      }).dataSync() as Float32Array;
    const adam = (): Float32Array =>
      tf.tidy(() => {
        const [w2] = tf.engine().runKernel('GroddAdamUpdate', { w: t(randArr([40, 3], 4)), g: t(randArr([40, 3], 5)), m: t(randArr([40, 3], 6)), v: tf.abs(t(randArr([40, 3], 7))) }, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-3, step: 3 } as never) as tf.Tensor[];
        return w2;
      }).dataSync() as Float32Array;
    const loops = { bn: run(bn), sgd: sgd(), adam: adam() };
    addon.setGeneric(true);
    try {
      const generic = { bn: run(bn), sgd: sgd(), adam: adam() };
      generic.bn.values.forEach((v, i) => assertClose(v, loops.bn.values[i], 1e-5, `batch norm chain output ${i}`));
      assertClose(generic.sgd, loops.sgd, 1e-6, 'sgd');
      assertClose(generic.adam, loops.adam, 1e-6, 'adam');
    } finally {
      addon.setGeneric(false);
    }
  });

  it('tensors move between the cpu and native backends', async () => {
    await useBackend('cpu');
    const a = tf.tensor([1.5, -2], [2]);
    await useBackend('native');
    const b = tf.mul(a, 2);
    assert.deepEqual(Array.from(await b.data()), [3, -4]);
    tf.dispose([a, b]);
  });

  for (const [i, c] of CONV_CASES.entries()) {
    it(`Conv2DBackpropFilter / Input directly ${convLabel(c)}`, async () => {
      await useBackend('cpu');
      const ys = convOutShape(c);
      const x = randArr(c.x, 200 + i);
      const dy = randArr(ys, 300 + i);
      const w = randArr([c.k[0], c.k[1], c.x[3], c.co], 400 + i);
      const both = async (f: () => tf.Tensor): Promise<[Float32Array, Float32Array]> => {
        await useBackend('cpu');
        const a = tf.tidy(f).dataSync() as Float32Array;
        await useBackend('native');
        return [tf.tidy(f).dataSync() as Float32Array, a];
      };
      const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC' };
      const [dw, dwRef] = await both(() => tf.engine().runKernel('Conv2DBackpropFilter', { x: t(x), dy: t(dy) }, { ...attrs, filterShape: [c.k[0], c.k[1], c.x[3], c.co] } as never) as tf.Tensor);
      assertClose(dw, dwRef, 1e-5, 'dW');
      const [dx, dxRef] = await both(() => tf.engine().runKernel('Conv2DBackpropInput', { dy: t(dy), filter: t(w) }, { ...attrs, inputShape: c.x } as never) as tf.Tensor);
      assertClose(dx, dxRef, 1e-5, 'dx');
    });
  }
});
