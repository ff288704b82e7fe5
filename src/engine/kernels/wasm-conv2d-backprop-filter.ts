/**
 * wasm `Conv2DBackpropFilter` (dL/dW of a 2-D convolution). The wasm backend
 * ships no such kernel, so conv nets cannot train on it as shipped.
 *
 * Computed as one (XNNPACK) Conv2D: the weight gradient is the correlation of
 * the input with the output gradient over the batch and spatial positions.
 * With x [B,H,W,Ci] and dy [B,Ho,Wo,Co]: convolve xT = x^[Ci,H,W,B] (the batch
 * becomes the channel axis) with dyT = dy^[Ho,Wo,B,Co] as the filter, using
 * dilation = the forward stride and the forward padding. The result
 * [Ci,kh',kw',Co] is cropped to [Ci,kh,kw,Co] and transposed to [kh,kw,Ci,Co].
 */
import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { callWasm, release, swapBatchAndChannelsWasm, transposeWasm } from './wasm-call';

export const conv2DBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`wasm Conv2DBackpropFilter supports NHWC only, got ${dataFormat}`);
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const [, H, W, Ci] = x.shape;
  const [, Ho, Wo, Co] = dy.shape;
  const kh = info.filterHeight;
  const kw = info.filterWidth;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const { top, left } = info.padInfo;
  // Output extent of the correlation is H + top + bottom - (Ho-1)*sh; choose the
  // bottom/right padding that makes it exactly kh/kw, crop if that is negative.
  const bottomWanted = kh - H - top + (Ho - 1) * sh;
  const rightWanted = kw - W - left + (Wo - 1) * sw;
  const bottom = Math.max(0, bottomWanted);
  const right = Math.max(0, rightWanted);
  const xT = x.dtype === 'float32' ? swapBatchAndChannelsWasm(x, backend) : transposeWasm(x, [3, 1, 2, 0], backend); // [Ci,H,W,B]
  const dyT = transposeWasm(dy, [1, 2, 0, 3], backend); // [Ho,Wo,B,Co]
  let g = callWasm('Conv2D', { x: xT, filter: dyT }, backend, {
    strides: [1, 1],
    dilations: [sh, sw],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: 'NHWC',
  });
  release(backend, xT, dyT);
  if (g.shape[1] !== kh || g.shape[2] !== kw) {
    const cropped = callWasm('Slice', { x: g }, backend, { begin: [0, 0, 0, 0], size: [Ci, kh, kw, Co] });
    release(backend, g);
    g = cropped;
  }
  const out = transposeWasm(g, [1, 2, 0, 3], backend); // [kh,kw,Ci,Co]
  release(backend, g);
  return out;
};

export const conv2DBackpropFilterWasmConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilterWasm,
};
