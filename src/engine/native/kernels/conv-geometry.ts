/**
 * What the three native convolution kernels share: tfjs's conv geometry
 * (strides, dilations, the padding 'same' / 'valid' / explicit resolves to,
 * as [top, bottom, left, right]) and the memory layout ATen computes in.
 *
 * Layout: an NHWC tensor viewed as NCHW is channels-last, for which ATen runs
 * oneDNN's channels-last kernels without a copy; that was as fast as PyTorch at
 * ResNet-18 and small-CNN shapes. On small maps with many channels (4x4x512)
 * plain NCHW was 1.3-1.7x faster, measured by `npm run bench:conv-layout`
 * (bench/conv-layout.ts), which also checks the threshold below.
 */
import { backend_util, type Conv2DAttrs } from '@tensorflow/tfjs-core';

export interface NativeConvGeometry {
  stride: number[];
  dilation: number[];
  pad: number[];
  nchw: boolean;
}

/** Spatial size (H·W of the input) at or below which plain NCHW is used. */
export const NCHW_MAX_PIXELS = 16;

export function convGeometry(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: Pick<Conv2DAttrs, 'strides' | 'pad' | 'dilations' | 'dimRoundingMode' | 'dataFormat'>,
): NativeConvGeometry {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`native backend: conv2d dataFormat '${attrs.dataFormat}' is not supported (NHWC is)`);
  }
  const info = backend_util.computeConv2DInfo(xShape, filterShape, attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode);
  const p = info.padInfo;
  if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0) throw new Error('native backend: negative conv padding is not supported');
  return {
    stride: [info.strideHeight, info.strideWidth],
    dilation: [info.dilationHeight, info.dilationWidth],
    pad: [p.top, p.bottom, p.left, p.right],
    nchw: xShape[1] * xShape[2] <= NCHW_MAX_PIXELS,
  };
}
