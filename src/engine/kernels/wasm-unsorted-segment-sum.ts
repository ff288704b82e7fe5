/**
 * wasm `UnsortedSegmentSum`, missing from the wasm backend; it is the gradient
 * of gather (tf.gather / embedding-style label lookups). Computed as a matmul
 * with the one-hot matrix of the segment ids: out[s] = sum_i [ids_i = s] x_i
 * (ids outside [0, numSegments) contribute nothing, as in TensorFlow).
 */
import { UnsortedSegmentSum, type KernelConfig, type KernelFunc, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { callWasm, release, reshapeWasm } from './wasm-call';

export const unsortedSegmentSumWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const idsSize = util.sizeFromShape(segmentIds.shape);
  const rest = util.sizeFromShape(x.shape) / idsSize;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const ids = reshapeWasm(segmentIds, [idsSize], backend);
  const idsInt = ids.dtype === 'int32' ? ids : callWasm('Cast', { x: ids }, backend, { dtype: 'int32' });
  // wasm OneHot writes int32 bits whatever dtype it is asked for: make int32, cast.
  const oneHotInt = callWasm('OneHot', { indices: idsInt }, backend, {
    depth: numSegments,
    onValue: 1,
    offValue: 0,
    dtype: 'int32',
  }); // [N, S]
  const oneHot = callWasm('Cast', { x: oneHotInt }, backend, { dtype: 'float32' });
  release(backend, oneHotInt);
  const xf = x.dtype === 'float32' ? x : callWasm('Cast', { x }, backend, { dtype: 'float32' });
  const a = reshapeWasm(oneHot, [1, idsSize, numSegments], backend);
  const b = reshapeWasm(xf, [1, idsSize, rest], backend);
  const prod = callWasm('BatchMatMul', { a, b }, backend, { transposeA: true, transposeB: false }); // [1,S,rest]
  let out = reshapeWasm(prod, outShape, backend);
  release(backend, prod, a, b, oneHot);
  if (idsInt !== ids) release(backend, idsInt);
  release(backend, ids);
  if (xf !== x) release(backend, xf);
  if (x.dtype !== 'float32') {
    const cast = callWasm('Cast', { x: out }, backend, { dtype: x.dtype });
    release(backend, out);
    out = cast;
  }
  return out;
};

export const unsortedSegmentSumWasmConfig: KernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSumWasm,
};
