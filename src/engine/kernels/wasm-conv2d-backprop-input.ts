/**
 * wasm `Conv2DBackpropInput` (dL/dx of a 2-D convolution, a transposed
 * convolution) rewritten as one XNNPACK Conv2D. The wasm backend's own kernel
 * is a plain loop and was the slowest kernel of a training step; double
 * backprop calls it even more often (every input gradient, and the gradient
 * of the gradient of each conv).
 *
 * dx = conv2d(dilate(dy, stride), flip(W)) where flip(W)[i,j,co,ci] =
 * W[kh-1-i, kw-1-j, ci, co], with padding kh-1-top before and whatever makes
 * the output H after. Dilation by the stride inserts stride-1 zeros after every
 * row/column (reshape to [B,Ho,1,Wo,1,C], pad, reshape). Paddings the rewrite
 * cannot express (forward padding larger than the kernel) fall back to the
 * shipped kernel.
 */
import {
  backend_util,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { callWasm, release, reshapeWasm, transposeWasm } from './wasm-call';

/** The kernel the wasm backend ships, kept as the fallback (set at registration). */
let shipped: KernelConfig | undefined;

export function setShippedConv2DBackpropInput(config: KernelConfig | undefined): void {
  shipped = config;
}

/** The shipped kernel (for benchmarks and tests). */
export function shippedConv2DBackpropInput(): KernelConfig | undefined {
  return shipped;
}

export const conv2DBackpropInputWasm: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`wasm Conv2DBackpropInput supports NHWC only, got ${dataFormat}`);
  }
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const [B, H, W] = inputShape;
  const [, Ho, Wo, Co] = dy.shape;
  const kh = info.filterHeight;
  const kw = info.filterWidth;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const padTop = kh - 1 - info.padInfo.top;
  const padLeft = kw - 1 - info.padInfo.left;
  // Rows of the dilated dy: Ho*sh (the last sh-1 are zeros, counted as padding).
  // Bottom/right padding of the true dilated dy ((Ho-1)*s+1 rows) that makes
  // the output H rows; our dilation appends s-1 zero rows, which count as padding.
  const bottom = H + kh - 1 - ((Ho - 1) * sh + 1) - padTop - (sh - 1);
  const right = W + kw - 1 - ((Wo - 1) * sw + 1) - padLeft - (sw - 1);
  if (padTop < 0 || padLeft < 0) {
    if (shipped == null) throw new Error('wasm Conv2DBackpropInput: unsupported padding');
    return shipped.kernelFunc(args);
  }
  // flip(W): reverse the spatial axes, swap in/out channels.
  const flipped = callWasm('Reverse', { x: filter }, backend, { dims: [0, 1] });
  const wT = transposeWasm(flipped, [0, 1, 3, 2], backend);
  release(backend, flipped);
  let src = dy;
  if (sh > 1 || sw > 1) {
    const r6 = reshapeWasm(dy, [B, Ho, 1, Wo, 1, Co], backend);
    const p6 = callWasm('PadV2', { x: r6 }, backend, {
      paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
      constantValue: 0,
    });
    release(backend, r6);
    src = reshapeWasm(p6, [B, Ho * sh, Wo * sw, Co], backend);
    release(backend, p6);
  }
  let out: TensorInfo;
  if (bottom >= 0 && right >= 0) {
    out = callWasm('Conv2D', { x: src, filter: wT }, backend, {
      strides: [1, 1],
      dilations: [1, 1],
      pad: [[0, 0], [padTop, bottom], [padLeft, right], [0, 0]],
      dataFormat: 'NHWC',
    });
  } else {
    const full = callWasm('Conv2D', { x: src, filter: wT }, backend, {
      strides: [1, 1],
      dilations: [1, 1],
      pad: [[0, 0], [padTop, Math.max(0, bottom)], [padLeft, Math.max(0, right)], [0, 0]],
      dataFormat: 'NHWC',
    });
    out = callWasm('Slice', { x: full }, backend, { begin: [0, 0, 0, 0], size: [B, H, W, inputShape[3]] });
    release(backend, full);
  }
  if (src !== dy) release(backend, src);
  release(backend, wT);
  return out;
};

export const conv2DBackpropInputWasmConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInputWasm,
  // The shipped kernel's setup (cwrap) still has to run for the fallback.
  setupFunc: (backend) => shipped?.setupFunc?.(backend),
};
