/**
 * wasm `Conv2DBackpropInput` (dL/dx of a 2-D convolution, a transposed
 * convolution) rewritten as XNNPACK Conv2Ds. The wasm backend's own kernel
 * is a plain loop and was the slowest kernel of a training step; double
 * backprop calls it even more often (every input gradient, and the gradient
 * of the gradient of each conv).
 *
 * Stride 1: dx = conv2d(dy, flip(W)) where flip(W)[i,j,co,ci] =
 * W[kh-1-i, kw-1-j, ci, co], with padding kh-1-top before and whatever makes
 * the output H after.
 * Stride > 1: one stride-1 convolution per output row phase (sub-pixel
 * decomposition, see conv2DBackpropInputPhases): about the MACs of the forward
 * convolution, where convolving dy dilated by the stride (the general path,
 * conv2DBackpropInputDilated) multiplies mostly zeros (4x the MACs at stride 2).
 * Paddings neither rewrite can express (forward padding larger than the
 * kernel) fall back to the shipped kernel.
 */
import {
  backend_util,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { derivedFilters } from './derived-filters';
import { callWasm, emptyWasm, fromValuesWasm, heapF32, release, reshapeWasm } from './wasm-call';

/** The kernel the wasm backend ships, kept as the fallback (set at registration). */
let shipped: KernelConfig | undefined;

export function setShippedConv2DBackpropInput(config: KernelConfig | undefined): void {
  shipped = config;
}

/**
 * flip(W)[i,j,co,ci] = W[kh-1-i, kw-1-j, ci, co] in one pass over the heap: the
 * wasm Reverse kernel took 91 ms on a 3x3x512x512 filter (ResNet-18's layer4),
 * 15x the forward conv it serves.
 */
function flippedFilter(filter: TensorInfo, backend: Parameters<KernelFunc>[0]['backend']): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const w = heapF32(filter, backend);
  const out = new Float32Array(w.length);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const src = ((kh - 1 - i) * kw + (kw - 1 - j)) * ci * co;
      const dst = (i * kw + j) * co * ci;
      for (let a = 0; a < ci; a++) {
        for (let b = 0; b < co; b++) out[dst + b * ci + a] = w[src + a * co + b];
      }
    }
  }
  return fromValuesWasm(out, [kh, kw, co, ci], backend);
}

/**
 * dy dilated by the stride, one stride-1 Conv2D (also the stride-1 path);
 * null for paddings it cannot express (the caller falls back).
 */
function conv2DBackpropInputDilated(
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: [number, number, number, number],
  info: backend_util.Conv2DInfo,
  backend: object,
): TensorInfo | null {
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
  if (padTop < 0 || padLeft < 0) return null;
  const [wT] = derivedFilters(filter, 'flipped', backend, () => [flippedFilter(filter, backend)]);
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
  return out;
};

/** Taps of one output phase along one axis (see conv2DBackpropInputPhases). */
interface Phase {
  r: number; // first tap
  n: number; // number of taps r, r+s, ...
  c: number; // dy index offset
}

function phasesOf(s: number, k: number, padBefore: number): Phase[] {
  const out: Phase[] = [];
  for (let a = 0; a < s; a++) {
    const r = (((a + padBefore) % s) + s) % s;
    const n = r < k ? Math.floor((k - 1 - r) / s) + 1 : 0;
    out.push({ r, n, c: (a + padBefore - r) / s });
  }
  return out;
}

/**
 * Strided dx by the sub-pixel (phase) decomposition: output row h = a + s*t
 * only receives taps i = r_a + s*u, so each row phase a is a stride-1
 * convolution of dy with the (flipped) sub-kernel of those taps: ~1/s of the
 * MACs of the dilated formulation per phase, and no zeros multiplied. The
 * column phases go into the output channels of the same convolution (filter
 * [n_a, Kw, Co, sw*Ci], zero taps where a column phase has fewer taps), so its
 * output [B, T_a, Wc, sw, Ci] already has the columns interleaved; the row
 * phases are interleaved by copying whole rows. Returns null where the
 * decomposition does not apply (the caller falls back).
 */
function conv2DBackpropInputPhases(
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: [number, number, number, number],
  info: backend_util.Conv2DInfo,
  backend: object,
): TensorInfo | null {
  const [B, H, W, Ci] = inputShape;
  const [, Ho, Wo, Co] = dy.shape;
  const kh = info.filterHeight;
  const kw = info.filterWidth;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const rows = phasesOf(sh, kh, info.padInfo.top);
  const cols = phasesOf(sw, kw, info.padInfo.left);
  if (rows.some((p) => p.n === 0 || p.n - 1 - p.c < 0)) return null;
  // Columns: one convolution for all column phases, common left padding P.
  const P = Math.max(...cols.map((p) => p.n - 1 - p.c));
  if (P < 0) return null;
  const Kw = Math.max(...cols.map((p) => P + p.c)) + 1;
  const Ws = Math.ceil(W / sw);
  const right = Math.max(0, Ws - Wo - P + Kw - 1);
  const Wc = Wo + P + right - Kw + 1;
  if (Wc < Ws || Kw <= 0) return null;
  const phaseFilters = derivedFilters(filter, `phases ${sh} ${sw} ${info.padInfo.top} ${info.padInfo.left} ${P} ${Kw}`, backend, () => {
    // Filters first (plain JS): the heap view of `filter` is invalidated by allocations.
    const w = heapF32(filter, backend); // [kh, kw, Ci, Co]
    const filters = rows.map(({ r, n }) => {
      // [n, Kw, Co, sw*Ci]: f[v, x, co, b*Ci + ci] = W[r + sh*(n-1-v), cols[b].r + sw*u, ci, co], u = P + c_b - x
      const f = new Float32Array(n * Kw * Co * sw * Ci);
      for (let v = 0; v < n; v++) {
        const i = r + sh * (n - 1 - v);
        for (let x = 0; x < Kw; x++) {
          for (let b = 0; b < sw; b++) {
            const u = P + cols[b].c - x;
            if (u < 0 || u >= cols[b].n) continue;
            const j = cols[b].r + sw * u;
            for (let ci = 0; ci < Ci; ci++) {
              const src = ((i * kw + j) * Ci + ci) * Co;
              const dst = (v * Kw + x) * Co * sw * Ci + b * Ci + ci;
              for (let co = 0; co < Co; co++) f[dst + co * sw * Ci] = w[src + co];
            }
          }
        }
      }
      return f;
    });
    return filters.map((f, a) => fromValuesWasm(f, [rows[a].n, Kw, Co, sw * Ci], backend));
  });
  const convs: { out: TensorInfo; T: number; Tc: number }[] = [];
  for (let a = 0; a < sh; a++) {
    const { n, c } = rows[a];
    const T = Math.ceil((H - a) / sh);
    const top = n - 1 - c;
    const bottom = Math.max(0, T - Ho - top + n - 1);
    const Tc = Ho + top + bottom - n + 1;
    const out = callWasm('Conv2D', { x: dy, filter: phaseFilters[a] }, backend, {
      strides: [1, 1],
      dilations: [1, 1],
      pad: [[0, 0], [top, bottom], [P, right], [0, 0]],
      dataFormat: 'NHWC',
    });
    convs.push({ out, T, Tc });
  }
  if (sh === 1 && convs[0].Tc === H && Wc * sw === W) {
    const out = reshapeWasm(convs[0].out, [B, H, W, Ci], backend);
    release(backend, convs[0].out);
    return out;
  }
  const dx = emptyWasm([B, H, W, Ci], backend);
  const dxv = heapF32(dx, backend);
  const rowLen = W * Ci;
  const srcRow = Wc * sw * Ci;
  for (let a = 0; a < sh; a++) {
    const { out, T, Tc } = convs[a];
    const src = heapF32(out, backend);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const s0 = (b * Tc + t) * srcRow;
        dxv.set(src.subarray(s0, s0 + rowLen), ((b * H + a + sh * t) * W) * Ci);
      }
    }
    release(backend, out);
  }
  return dx;
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
  const strided = info.strideHeight > 1 || info.strideWidth > 1;
  const out =
    (strided && dy.dtype === 'float32' && filter.dtype === 'float32' ? conv2DBackpropInputPhases(dy, filter, inputShape, info, backend) : null) ??
    conv2DBackpropInputDilated(dy, filter, inputShape, info, backend);
  if (out != null) return out;
  if (shipped == null) throw new Error('wasm Conv2DBackpropInput: unsupported padding');
  return shipped.kernelFunc(args);
};

export const conv2DBackpropInputWasmConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInputWasm,
  // The shipped kernel's setup (cwrap) still has to run for the fallback.
  setupFunc: (backend) => shipped?.setupFunc?.(backend),
};
