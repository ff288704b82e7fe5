/**
 * Index kernels: GatherV2 (rows of x along an axis, batchDims 0), OneHot
 * (indices outside [0, depth) give rows of offValue, as tfjs) and
 * UnsortedSegmentSum (ids outside [0, numSegments) are dropped, as tfjs).
 */
import type { GatherV2Attrs, KernelConfig, OneHotAttrs, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { aten, free } from '../aten';
import { dtypeCode } from '../addon';
import { nativeKernel, normAxis } from './kernel';

const indexSelect = aten('index_select');
const reshape = aten('reshape');
const arange = aten('arange');
const eq = aten('eq', 'Tensor');
const whereScalar = aten('where', 'Scalar');
const zeros = aten('zeros');
const indexAdd = aten('index_add');
const ge = aten('ge', 'Scalar');
const lt = aten('lt', 'Scalar');
const logicalAnd = aten('logical_and');
const fullLike = aten('full_like');
const whereSelf = aten('where', 'self');
const sliceOp = aten('slice', 'Tensor');
const contiguous = aten('contiguous');

export const gatherKernels: KernelConfig[] = [
  nativeKernel<GatherV2Attrs>('GatherV2', ({ inputs, backend, attrs }) => {
    const { x, indices } = inputs;
    if (attrs.batchDims !== 0) throw new Error('native backend: GatherV2 with batchDims > 0 is not supported');
    const axis = normAxis(attrs.axis, x.shape.length);
    const flat = reshape(backend.handle(indices), [-1]);
    const picked = indexSelect(backend.handle(x), axis, flat);
    const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    const r = reshape(picked, shape);
    free(flat, picked);
    return backend.output(r, x.dtype);
  }),
  nativeKernel<OneHotAttrs>('OneHot', ({ inputs, backend, attrs }) => {
    const { indices } = inputs;
    const col = reshape(backend.handle(indices), [...indices.shape, 1]);
    const classes = arange(attrs.depth, dtypeCode('int32'));
    const hit = eq(col, classes);
    const r = whereScalar(hit, attrs.onValue, attrs.offValue);
    free(col, classes, hit);
    return backend.output(r, attrs.dtype);
  }),
  nativeKernel<UnsortedSegmentSumAttrs>('UnsortedSegmentSum', ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs;
    const n = attrs.numSegments;
    const inner = x.shape.slice(segmentIds.shape.length);
    const ids = reshape(backend.handle(segmentIds), [-1]);
    // Ids out of range go to an extra row n, cut off at the end.
    const lo = ge(ids, 0);
    const hi = lt(ids, n);
    const ok = logicalAnd(lo, hi);
    const spare = fullLike(ids, n);
    const routed = whereSelf(ok, ids, spare);
    const rows = reshape(backend.handle(x), [-1, ...inner]);
    const acc = zeros([n + 1, ...inner], dtypeCode(x.dtype));
    const summed = indexAdd(acc, 0, routed, rows);
    const kept = sliceOp(summed, 0, 0, n, 1);
    const r = contiguous(kept);
    free(ids, lo, hi, ok, spare, routed, rows, acc, summed, kept);
    return backend.output(r, x.dtype);
  }),
];
