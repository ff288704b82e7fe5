/**
 * 2-D pooling on NHWC tensors through ATen's NCHW pooling ops (an NHWC
 * tensor viewed as NCHW is channels-last, which ATen pools without a copy):
 * MaxPool, AvgPool (dividing by the window's valid pixels, as tfjs does),
 * their gradients MaxPoolGrad and AvgPoolGrad (see there), and MaxPoolWithArgmax (tfjs's
 * flat NHWC indices). A padding ATen cannot take (asymmetric, as 'same' at
 * stride 2 can be, or wider than half the window) is applied to x first: -inf
 * for max, and for average a sum over the zero-padded input divided by the
 * count of valid pixels.
 */
import { backend_util, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { aten, atenMulti, free } from '../aten';
import type { NativeBackend } from '../backend';
import { dtypeCode } from '../addon';
import { nativeKernel } from './kernel';

interface PoolAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  includeBatchInIndex?: boolean;
}

const permute = aten('permute');
const contiguous = aten('contiguous');
const padNd = aten('constant_pad_nd');
const slice = aten('slice', 'Tensor');
const maxPool = aten('max_pool2d');
const maxPoolWithIndices = atenMulti('max_pool2d_with_indices');
const maxPoolBackward = aten('max_pool2d_with_indices_backward');
const avgPool = aten('avg_pool2d');
const avgPoolBackward = aten('avg_pool2d_backward');
const onesOp = aten('ones');
const div = aten('div', 'Tensor');
const mulScalar = aten('mul', 'Scalar');
const add = aten('add', 'Tensor');
const arange = aten('arange');
const reshape = aten('reshape');
const divScalarMode = aten('div', 'Scalar_mode');
const remainder = aten('remainder', 'Scalar');
const subScalar = aten('sub', 'Scalar');

interface Geometry {
  kernel: number[];
  stride: number[];
  /** [top, bottom, left, right] */
  pad: number[];
  /** Whether ATen's own (symmetric, at most half-window) padding can be used. */
  native: boolean;
}

function geometry(x: TensorInfo, attrs: PoolAttrs): Geometry {
  const info = backend_util.computePool2DInfo(x.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const p = info.padInfo;
  const kernel = [info.filterHeight, info.filterWidth];
  const native = p.top === p.bottom && p.left === p.right && 2 * p.top <= kernel[0] && 2 * p.left <= kernel[1];
  return { kernel, stride: [info.strideHeight, info.strideWidth], pad: [p.top, p.bottom, p.left, p.right], native };
}

/** ATen's padding argument: the symmetric padding, or none once x was padded by hand. */
function atenPad(g: Geometry): number[] {
  return g.native ? [g.pad[0], g.pad[2]] : [0, 0];
}

/** x (NHWC handle) padded by hand where ATen cannot, with `value`; a new handle or x itself. */
function padded(x: number, g: Geometry, value: number): number {
  return g.native ? x : padNd(x, [0, 0, g.pad[2], g.pad[3], g.pad[0], g.pad[1]], value);
}

const toNchw = (h: number): number => permute(h, [0, 3, 1, 2]);

/** NCHW result -> NHWC contiguous handle (frees the NCHW one). */
function toNhwc(h: number): number {
  const v = permute(h, [0, 2, 3, 1]);
  const c = contiguous(v);
  free(h, v);
  return c;
}

/** The [H, W] window of an NHWC handle padded by g, back to the unpadded extent. */
function cropped(h: number, g: Geometry, x: TensorInfo): number {
  if (g.native) return h;
  const rows = slice(h, 1, g.pad[0], g.pad[0] + x.shape[1], 1);
  const both = slice(rows, 2, g.pad[2], g.pad[2] + x.shape[2], 1);
  const c = contiguous(both);
  free(rows, both, h);
  return c;
}

/** Count of valid (unpadded) pixels in each window, [1, 1, Ho, Wo] float, for hand-padded average pooling. */
function validCounts(x: TensorInfo, g: Geometry): number {
  const ones = onesOp([1, x.shape[1], x.shape[2], 1], dtypeCode('float32'));
  const p = padded(ones, g, 0);
  const pn = toNchw(p);
  const counts = avgPool(pn, g.kernel, g.stride, [0, 0], false, true, 1);
  free(ones, p, pn);
  return counts;
}

function maxPoolKernel({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: NativeBackend; attrs: PoolAttrs }): TensorInfo {
  const g = geometry(inputs.x, attrs);
  const xp = padded(backend.handle(inputs.x), g, -Infinity);
  const xn = toNchw(xp);
  const y = maxPool(xn, g.kernel, g.stride, atenPad(g), [1, 1], false);
  free(xn);
  if (xp !== backend.handle(inputs.x)) free(xp);
  return backend.output(toNhwc(y), inputs.x.dtype);
}

function avgPoolKernel({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: NativeBackend; attrs: PoolAttrs }): TensorInfo {
  const { x } = inputs;
  const g = geometry(x, attrs);
  const xh = backend.handle(x);
  if (g.native) {
    const xn = toNchw(xh);
    const y = avgPool(xn, g.kernel, g.stride, atenPad(g), false, false, null);
    free(xn);
    return backend.output(toNhwc(y), x.dtype);
  }
  const xp = padded(xh, g, 0);
  const xn = toNchw(xp);
  const sums = avgPool(xn, g.kernel, g.stride, [0, 0], false, true, 1);
  const counts = validCounts(x, g);
  const y = div(sums, counts);
  free(xp, xn, sums, counts);
  return backend.output(toNhwc(y), x.dtype);
}

function maxPoolGradKernel({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: NativeBackend; attrs: PoolAttrs }): TensorInfo {
  const { dy, input } = inputs;
  const g = geometry(input, attrs);
  const xh = backend.handle(input);
  const xp = padded(xh, g, -Infinity);
  const xn = toNchw(xp);
  const [pooled, indices] = maxPoolWithIndices(xn, g.kernel, g.stride, atenPad(g), [1, 1], false);
  const dyn = toNchw(backend.handle(dy));
  const dx = maxPoolBackward(dyn, xn, g.kernel, g.stride, atenPad(g), [1, 1], false, indices);
  free(xn, pooled, indices, dyn);
  if (xp !== xh) free(xp);
  return backend.output(cropped(toNhwc(dx), g, input), input.dtype);
}

/**
 * tfjs's AvgPoolGrad spreads dy over each window divided by the full window
 * size, also where padding cuts the window (unlike avgPool's valid count):
 * ATen's count_include_pad, on the padded input where padded by hand.
 */
function avgPoolGradKernel({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: NativeBackend; attrs: PoolAttrs }): TensorInfo {
  const { dy, input } = inputs;
  const g = geometry(input, attrs);
  const xh = backend.handle(input);
  const xp = padded(xh, g, 0);
  const xn = toNchw(xp);
  const dyn = toNchw(backend.handle(dy));
  const dx = avgPoolBackward(dyn, xn, g.kernel, g.stride, atenPad(g), false, true, null);
  free(xn, dyn);
  if (xp !== xh) free(xp);
  return backend.output(cropped(toNhwc(dx), g, input), input.dtype);
}

/**
 * tfjs's argmax index of a window's maximum: (y·W + x)·C + c, plus b·H·W·C with
 * includeBatchInIndex, in the unpadded input; ATen's is y·W + x per plane.
 */
function maxPoolWithArgmaxKernel({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: NativeBackend; attrs: PoolAttrs }): TensorInfo[] {
  const { x } = inputs;
  const [n, h, w, c] = x.shape;
  const g = geometry(x, attrs);
  const xh = backend.handle(x);
  const xp = padded(xh, g, -Infinity);
  const xn = toNchw(xp);
  const [pooled, planeIdxNchw] = maxPoolWithIndices(xn, g.kernel, g.stride, atenPad(g), [1, 1], false);
  free(xn);
  if (xp !== xh) free(xp);
  let idx = toNhwc(planeIdxNchw);
  if (!g.native) {
    // Padded coordinates -> input coordinates.
    const wp = w + g.pad[2] + g.pad[3];
    const rows = divScalarMode(idx, wp, 'floor');
    const cols = remainder(idx, wp);
    const r0 = subScalar(rows, g.pad[0]);
    const c0 = subScalar(cols, g.pad[2]);
    const rw = mulScalar(r0, w);
    free(idx, rows, cols, r0);
    idx = add(rw, c0);
    free(rw, c0);
  }
  const scaled = mulScalar(idx, c);
  const channel = arange(c, dtypeCode('int32'));
  let flat = add(scaled, channel);
  free(idx, scaled, channel);
  if (attrs.includeBatchInIndex) {
    const batch = arange(n, dtypeCode('int32'));
    const batchOffset = mulScalar(batch, h * w * c);
    const col = reshape(batchOffset, [n, 1, 1, 1]);
    const withBatch = add(flat, col);
    free(batch, batchOffset, col, flat);
    flat = withBatch;
  }
  return [backend.output(toNhwc(pooled), x.dtype), backend.output(flat, 'int32')];
}

export const poolKernels: KernelConfig[] = [
  nativeKernel<PoolAttrs>('MaxPool', maxPoolKernel),
  nativeKernel<PoolAttrs>('AvgPool', avgPoolKernel),
  nativeKernel<PoolAttrs>('MaxPoolGrad', maxPoolGradKernel),
  nativeKernel<PoolAttrs>('AvgPoolGrad', avgPoolGradKernel),
  nativeKernel<PoolAttrs>('MaxPoolWithArgmax', maxPoolWithArgmaxKernel),
];
