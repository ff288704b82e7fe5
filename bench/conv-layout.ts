/**
 * npm run bench:conv-layout — the native backend's convolutions in both memory
 * layouts (channels-last: the NHWC buffer viewed as NCHW, no copy; plain NCHW:
 * copied first) at the shapes of grodd's architectures, forward plus both
 * gradients, and which layout conv-geometry.ts's rule (NCHW_MAX_PIXELS) picks.
 * Usage: npm run bench:conv-layout -- [--threads 2] [--reps 5] [--batch 64]
 */
import { loadAddon } from '../src/engine/native/addon';
import { NCHW_MAX_PIXELS } from '../src/engine/native/kernels/conv-geometry';
import { arg } from './args';

interface Shape {
  net: string;
  h: number;
  c: number;
  co: number;
  stride: number;
}

const SHAPES: Shape[] = [
  { net: 'small-cnn', h: 28, c: 1, co: 32, stride: 2 },
  { net: 'small-cnn', h: 14, c: 32, co: 64, stride: 2 },
  { net: 'small-cnn', h: 7, c: 64, co: 128, stride: 2 },
  { net: 'resnet18', h: 32, c: 64, co: 64, stride: 1 },
  { net: 'resnet18', h: 16, c: 128, co: 128, stride: 1 },
  { net: 'resnet18', h: 8, c: 256, co: 256, stride: 1 },
  { net: 'resnet18', h: 4, c: 512, co: 512, stride: 1 },
  { net: 'wrn-40-2', h: 32, c: 32, co: 32, stride: 1 },
  { net: 'wrn-40-2', h: 16, c: 64, co: 64, stride: 1 },
  { net: 'wrn-40-2', h: 8, c: 128, co: 128, stride: 1 },
  { net: 'densenet-bc-100', h: 8, c: 48, co: 12, stride: 1 },
  { net: 'densenet121 (224)', h: 7, c: 128, co: 32, stride: 1 },
];

function main(): void {
  const addon = loadAddon();
  if ('why' in addon) {
    console.log(`native backend unavailable: ${addon.why}`);
    return;
  }
  const threads = Number(arg('threads', '2'));
  const reps = Number(arg('reps', '5'));
  const batch = Number(arg('batch', '64'));
  addon.init(new Int32Array(44));
  addon.setThreads(threads);
  const time = (f: () => number): number => {
    addon.free(f());
    const t = performance.now();
    for (let i = 0; i < reps; i++) addon.free(f());
    return (performance.now() - t) / reps;
  };
  console.log(`native conv layouts, libtorch ${addon.info().torch}, ${threads} threads, batch ${batch}, 3x3 'same', ms for forward + input grad + weight grad (mean of ${reps})`);
  console.log('net                 input        -> out  channels-last   nchw   nchw/cl   rule picks');
  for (const s of SHAPES) {
    const ho = Math.ceil(s.h / s.stride);
    const xs = [batch, s.h, s.h, s.c];
    const ws = [3, 3, s.c, s.co];
    const ys = [batch, ho, ho, s.co];
    const fill = (shape: number[]) => addon.fromArray(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i)), shape, 0);
    const x = fill(xs);
    const w = fill(ws);
    const dy = fill(ys);
    // tfjs's 'same': the padding the output size needs, the odd pixel at the end.
    const along = Math.max((ho - 1) * s.stride + 3 - s.h, 0);
    const pad = [Math.floor(along / 2), along - Math.floor(along / 2), Math.floor(along / 2), along - Math.floor(along / 2)];
    const all = (nchw: boolean) =>
      time(() => addon.conv2d(x, w, [s.stride, s.stride], [1, 1], pad, nchw)) +
      time(() => addon.conv2dBackpropInput(dy, w, xs, [s.stride, s.stride], [1, 1], pad, nchw)) +
      time(() => addon.conv2dBackpropFilter(x, dy, ws, [s.stride, s.stride], [1, 1], pad, nchw));
    const cl = all(false);
    const nchw = all(true);
    const picks = s.h * s.h <= NCHW_MAX_PIXELS ? 'nchw' : 'channels-last';
    const better = nchw < cl ? 'nchw' : 'channels-last';
    console.log(
      `${s.net.padEnd(19)} ${`${s.h}x${s.h}x${s.c}`.padEnd(12)} -> ${String(s.co).padEnd(4)} ${cl.toFixed(1).padStart(13)} ${nchw.toFixed(1).padStart(6)} ${(nchw / cl).toFixed(2).padStart(8)}   ${picks}${picks === better ? '' : ` (faster here: ${better})`}`,
    );
    addon.free(x, w, dy);
  }
}

main();
