/**
 * Slice (begin and size per axis, size -1 = to the end), PadV2 (a constant)
 * and MirrorPad ('reflect' or 'symmetric'). Results are contiguous copies, so
 * a small slice never keeps a large tensor alive.
 */
import { slice_util, type KernelConfig, type PadV2Attrs, type SliceAttrs } from '@tensorflow/tfjs-core';
import { aten, free } from '../aten';
import { nativeKernel } from './kernel';

const sliceOp = aten('slice', 'Tensor');
const contiguous = aten('contiguous');
const padNd = aten('constant_pad_nd');
const flip = aten('flip');
const cat = aten('cat');

/** ATen's pad list: [before, after] of the last axis first. */
function atenPads(paddings: [number, number][]): number[] {
  return paddings
    .slice()
    .reverse()
    .flatMap(([before, after]) => [before, after]);
}

/** x[begin:begin+size] along each axis, as a view (new handle; the views in between are freed). */
function sliceView(x: number, begin: number[], size: number[]): number {
  let h = x;
  for (let axis = 0; axis < begin.length; axis++) {
    const next = sliceOp(h, axis, begin[axis], begin[axis] + size[axis], 1);
    if (h !== x) free(h);
    h = next;
  }
  return h;
}

/**
 * Mirror padding along one axis: 'reflect' excludes the edge, 'symmetric'
 * repeats it (tfjs's two modes), built from flipped slices and a cat.
 */
function mirrorAxis(x: number, shape: number[], axis: number, before: number, after: number, reflect: boolean): number {
  const n = shape[axis];
  const o = reflect ? 1 : 0;
  const parts: number[] = [];
  const piece = (start: number, count: number): number => {
    const s = sliceOp(x, axis, start, start + count, 1);
    const f = flip(s, [axis]);
    free(s);
    return f;
  };
  if (before > 0) parts.push(piece(o, before));
  parts.push(x);
  if (after > 0) parts.push(piece(n - after - o, after));
  const r = cat(parts, axis);
  free(...parts.filter((p) => p !== x));
  return r;
}

export const sliceKernels: KernelConfig[] = [
  nativeKernel<SliceAttrs>('Slice', ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const [begin, size] = slice_util.parseSliceParams(x as never, attrs.begin, attrs.size);
    const xh = backend.handle(x);
    const v = sliceView(xh, begin, size);
    const c = contiguous(v);
    if (v !== xh) free(v);
    return backend.output(c, x.dtype);
  }),
  nativeKernel<PadV2Attrs>('PadV2', ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    return backend.output(padNd(backend.handle(x), atenPads(attrs.paddings), attrs.constantValue), x.dtype);
  }),
  nativeKernel<{ paddings: [number, number][]; mode: 'reflect' | 'symmetric' }>('MirrorPad', ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const shape = x.shape.slice();
    let h = backend.handle(x);
    attrs.paddings.forEach(([before, after], axis) => {
      if (before === 0 && after === 0) return;
      const next = mirrorAxis(h, shape, axis, before, after, attrs.mode === 'reflect');
      if (h !== backend.handle(x)) free(h);
      h = next;
      shape[axis] += before + after;
    });
    return backend.output(h === backend.handle(x) ? contiguous(h) : h, x.dtype);
  }),
];
