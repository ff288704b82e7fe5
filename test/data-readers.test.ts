import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { ConfigReader } from '../src/config/reader';
import { parseDatasetSpec, openDataset } from '../src/data/spec';
import { Dataset } from '../src/data/dataset';
import { UserError } from '../src/util/errors';
import {
  cifarRecord, float32Bytes, int64Bytes, matFile, npyBytes, pix, pixelsNHWC, svhnVars, tempDir, writeIdx, writeNpy,
} from './data-writers';

const dir = tempDir('readers');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function spec(raw: Record<string, unknown>) {
  return parseDatasetSpec(new ConfigReader(raw, 'data.test', 'test.yaml'), 'test');
}

async function open(raw: Record<string, unknown>): Promise<Dataset> {
  return openDataset(spec(raw));
}

/** Asserts that batch pixel (i, h, w, c) equals pix(n, h, w, c)/255 for sample n. */
function assertPixels(x: Float32Array, shape: number[], i: number, n: number): void {
  const [H, W, C] = shape;
  for (const [h, w, c] of [[0, 0, 0], [H - 1, W - 1, C - 1], [Math.min(3, H - 1), Math.min(5, W - 1), C - 1], [1, 0, 0]]) {
    const got = x[((i * H + h) * W + w) * C + c];
    assert.ok(Math.abs(got - pix(n, h, w, c) / 255) < 1e-6, `sample ${n} pixel (${h},${w},${c}): got ${got * 255}, expected ${pix(n, h, w, c)}`);
  }
}

async function rejectsUser(p: Promise<unknown> | (() => unknown), re: RegExp): Promise<void> {
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

// ---------------- IDX ----------------

test('idx: raw and gzipped files, dir + split, known pixels and labels', async () => {
  const d = path.join(dir, 'idx');
  fs.mkdirSync(d);
  const labels = Uint8Array.from([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 0]);
  writeIdx(path.join(d, 'train-images-idx3-ubyte.gz'), [12, 6, 5], pixelsNHWC(12, 6, 5, 1));
  writeIdx(path.join(d, 'train-labels-idx1-ubyte.gz'), [12], labels);
  writeIdx(path.join(d, 't10k-images-idx3-ubyte'), [4, 6, 5], pixelsNHWC(4, 6, 5, 1));
  writeIdx(path.join(d, 't10k-labels-idx1-ubyte'), [4], Uint8Array.from([0, 1, 2, 9]));

  const train = await open({ format: 'idx', dir: d, split: 'train' });
  assert.equal(train.size, 12);
  assert.deepEqual(train.shape, [6, 5, 1]);
  assert.equal(train.numClasses, 10);
  assert.deepEqual([...(await train.labels())], [...labels]);
  const b = await train.read([5, 0, 11]);
  assert.deepEqual([...b.y], [9, 3, 0]);
  assertPixels(b.x, b.shape, 0, 5);
  assertPixels(b.x, b.shape, 2, 11);

  const testSet = await open({ format: 'idx', images: path.join(d, 't10k-images-idx3-ubyte'), labels: path.join(d, 't10k-labels-idx1-ubyte') });
  const tb = await testSet.read([3]);
  assert.equal(tb.y[0], 9);
  assertPixels(tb.x, tb.shape, 0, 3);

  // classes + limit on a real reader
  const sub = await open({ format: 'idx', dir: d, classes: [5, 1], limit: 3, limit_seed: 1 });
  assert.equal(sub.size, 3);
  assert.equal(sub.numClasses, 2);
  assert.ok([...(await sub.labels())].every((y) => y === 0 || y === 1));
});

test('idx: truncated, bad magic, label count mismatch, missing files', async () => {
  const d = path.join(dir, 'idx-bad');
  fs.mkdirSync(d);
  const img = path.join(d, 'img');
  writeIdx(img, [10, 4, 4], pixelsNHWC(10, 4, 4, 1));
  const full = fs.readFileSync(img);
  fs.writeFileSync(path.join(d, 'trunc'), full.subarray(0, full.length - 7));
  await rejectsUser(open({ format: 'idx', images: path.join(d, 'trunc') }), /trunc: file is truncated: header promises 10 images/);
  fs.writeFileSync(path.join(d, 'magic'), Buffer.concat([Buffer.from([1, 2, 3, 4]), full.subarray(4)]));
  await rejectsUser(open({ format: 'idx', images: path.join(d, 'magic') }), /magic: not an IDX images file: bad magic/);
  writeIdx(path.join(d, 'lab'), [9], new Uint8Array(9));
  await rejectsUser(open({ format: 'idx', images: img, labels: path.join(d, 'lab') }), /lab: has 9 labels but .*img has 10 images/);
  fs.writeFileSync(path.join(d, 'bad.gz'), zlib.gzipSync(full).subarray(0, 30));
  await rejectsUser(open({ format: 'idx', images: path.join(d, 'bad.gz') }), /bad\.gz: not a valid gzip file/);
  await rejectsUser(open({ format: 'idx', images: path.join(d, 'nope') }), /nope: IDX images file not found/);
  assert.throws(() => spec({ format: 'idx', dir: d, split: 'test' }), /test\.yaml: data\.test\.dir: .*has no t10k-images-idx3-ubyte/);
});

test('idx: the real Fashion-MNIST test split, if installed', { skip: !fs.existsSync('/usr/share/datasets/fashion-mnist') && 'dataset-fashion-mnist not installed' }, async () => {
  const ds = await open({ format: 'idx', dir: '/usr/share/datasets/fashion-mnist', split: 'test' });
  assert.equal(ds.size, 10000);
  assert.deepEqual(ds.shape, [28, 28, 1]);
  assert.equal(ds.numClasses, 10);
  const counts = new Array(10).fill(0);
  for (const y of await ds.labels()) counts[y]++;
  assert.deepEqual(counts, new Array(10).fill(1000));
  const b = await ds.read([0, 9999]);
  assert.equal(b.y[0], 9); // the first test image is an ankle boot
  assert.ok(b.x.every((v) => v >= 0 && v <= 1));
});

// ---------------- CIFAR ----------------

test('cifar10: five train batches + test batch, planar to NHWC, labels', async () => {
  const d = path.join(dir, 'cifar10', 'cifar-10-batches-bin');
  fs.mkdirSync(d, { recursive: true });
  let n = 0;
  for (let b = 1; b <= 5; b++) {
    const recs = [];
    for (let k = 0; k < 3; k++, n++) recs.push(cifarRecord(n, [n % 10]));
    fs.writeFileSync(path.join(d, `data_batch_${b}.bin`), Buffer.concat(recs));
  }
  fs.writeFileSync(path.join(d, 'test_batch.bin'), Buffer.concat([cifarRecord(100, [7]), cifarRecord(101, [2])]));
  // `dir` may be the parent of cifar-10-batches-bin
  const train = await open({ format: 'cifar', dir: path.dirname(d) });
  assert.equal(train.size, 15);
  assert.deepEqual(train.shape, [32, 32, 3]);
  assert.equal(train.numClasses, 10);
  assert.deepEqual([...(await train.labels())], Array.from({ length: 15 }, (_, i) => i % 10));
  const b = await train.read([14, 0, 7]);
  assert.deepEqual([...b.y], [4, 0, 7]);
  assertPixels(b.x, b.shape, 0, 14);
  assertPixels(b.x, b.shape, 2, 7);
  const t = await open({ format: 'cifar', dir: d, split: 'test' });
  const tb = await t.read([1]);
  assert.equal(tb.y[0], 2);
  assertPixels(tb.x, tb.shape, 0, 101);
});

test('cifar100: fine and coarse labels; truncated and corrupted files', async () => {
  const d = path.join(dir, 'cifar100');
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, 'train.bin'), Buffer.concat([cifarRecord(0, [3, 77]), cifarRecord(1, [19, 99]), cifarRecord(2, [0, 5])]));
  const fine = await open({ format: 'cifar', variant: 'cifar100', dir: d });
  assert.equal(fine.numClasses, 100);
  assert.deepEqual([...(await fine.labels())], [77, 99, 5]);
  const coarse = await open({ format: 'cifar', variant: 'cifar100', dir: d, label: 'coarse' });
  assert.equal(coarse.numClasses, 20);
  const b = await coarse.read([1]);
  assert.equal(b.y[0], 19);
  assertPixels(b.x, b.shape, 0, 1);

  const full = fs.readFileSync(path.join(d, 'train.bin'));
  fs.writeFileSync(path.join(d, 'test.bin'), full.subarray(0, full.length - 100));
  await rejectsUser(open({ format: 'cifar', variant: 'cifar100', dir: d, split: 'test' }), /test\.bin: file is truncated or not a cifar100 binary file/);
  const bad = Buffer.from(full);
  bad[3075] = 200; // fine label of record 1 (record = coarse, fine, 3072 pixels)
  fs.writeFileSync(path.join(d, 'test.bin'), bad);
  const ds = await open({ format: 'cifar', variant: 'cifar100', dir: d, split: 'test' });
  await rejectsUser(ds.read([1]), /test\.bin: record 1 has label 200/);
  await rejectsUser(open({ format: 'cifar', dir: d }), /data_batch_1\.bin: CIFAR cifar10 train file not found/);
});

// ---------------- NPY ----------------

test('npy: uint8 NHWC v1, float32 NCHW v2, float64 v3, int64 labels', async () => {
  const u8 = path.join(dir, 'u8.npy');
  writeNpy(u8, '|u1', [9, 4, 5, 3], Buffer.from(pixelsNHWC(9, 4, 5, 3)));
  const lab = path.join(dir, 'lab.npy');
  writeNpy(lab, '<i8', [9], int64Bytes([0, 1, 2, 0, 1, 2, 0, 1, 2]));
  const ds = await open({ format: 'npy', path: u8, labels: lab });
  assert.equal(ds.size, 9);
  assert.deepEqual(ds.shape, [4, 5, 3]);
  assert.equal(ds.numClasses, 3);
  const b = await ds.read([8, 2]);
  assert.deepEqual([...b.y], [2, 2]);
  assertPixels(b.x, b.shape, 0, 8);
  assertPixels(b.x, b.shape, 1, 2);

  // NCHW float32, version 2: values pix/255 stored planar
  const nchw = new Float32Array(2 * 3 * 4 * 5);
  for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let h = 0; h < 4; h++) for (let w = 0; w < 5; w++) nchw[((n * 3 + c) * 4 + h) * 5 + w] = pix(n, h, w, c) / 255;
  const f4 = path.join(dir, 'f4.npy');
  writeNpy(f4, '<f4', [2, 3, 4, 5], float32Bytes(nchw), 2);
  const fds = await open({ format: 'npy', path: f4, layout: 'nchw' });
  assert.deepEqual(fds.shape, [4, 5, 3]);
  assert.equal(fds.numClasses, 0);
  const fb = await fds.read([1, 0]);
  assert.deepEqual([...fb.y], [-1, -1]);
  assertPixels(fb.x, fb.shape, 0, 1);
  assertPixels(fb.x, fb.shape, 1, 0);

  const f8 = path.join(dir, 'f8.npy');
  const vals = Array.from(pixelsNHWC(3, 4, 5, 1), (v) => v / 255);
  writeNpy(f8, '<f8', [3, 4, 5], Buffer.from(Float64Array.from(vals).buffer), 3);
  const eds = await open({ format: 'npy', path: f8 });
  assert.deepEqual(eds.shape, [4, 5, 1]);
  assertPixels((await eds.read([2])).x, [4, 5, 1], 0, 2);
});

test('npy: fortran order, truncation, bad magic, label mismatch, bad dtype', async () => {
  const data = Buffer.from(pixelsNHWC(4, 2, 2, 3));
  const fo = path.join(dir, 'fortran.npy');
  writeNpy(fo, '|u1', [4, 2, 2, 3], data, 1, true);
  await rejectsUser(open({ format: 'npy', path: fo }), /fortran\.npy: the array is stored in Fortran \(column-major\) order/);
  const tr = path.join(dir, 'trunc.npy');
  fs.writeFileSync(tr, npyBytes('|u1', [4, 2, 2, 3], data).subarray(0, 150));
  await rejectsUser(open({ format: 'npy', path: tr }), /trunc\.npy: file is truncated: its header promises shape \(4, 2, 2, 3\)/);
  const bm = path.join(dir, 'magic.npy');
  fs.writeFileSync(bm, Buffer.concat([Buffer.from('PK\x03\x04zip!'), data]));
  await rejectsUser(open({ format: 'npy', path: bm }), /magic\.npy: not a \.npy file: bad magic/);
  const ok = path.join(dir, 'ok.npy');
  writeNpy(ok, '|u1', [4, 2, 2, 3], data);
  const lab = path.join(dir, 'lab3.npy');
  writeNpy(lab, '<i8', [3], int64Bytes([0, 1, 2]));
  await rejectsUser(open({ format: 'npy', path: ok, labels: lab }), /lab3\.npy: has 3 labels but .*ok\.npy has 4 images/);
  const c16 = path.join(dir, 'c16.npy');
  writeNpy(c16, '<c16', [1, 1, 1, 1], Buffer.alloc(16));
  await rejectsUser(open({ format: 'npy', path: c16 }), /c16\.npy: unsupported \.npy dtype '<c16'/);
  // a file truncated after open (e.g. still being copied) fails the read naming file and sample
  const late = path.join(dir, 'late.npy');
  writeNpy(late, '|u1', [4, 2, 2, 3], data);
  const ds = await open({ format: 'npy', path: late });
  fs.truncateSync(late, 128 + 12);
  await rejectsUser(ds.read([3]), /late\.npy: file is truncated: sample 3 needs bytes/);
});

// ---------------- MAT ----------------

for (const compress of [false, true]) {
  test(`mat: SVHN-like X (column-major) and y with 10 meaning 0 (${compress ? 'miCOMPRESSED' : 'uncompressed'})`, async () => {
    const f = path.join(dir, `svhn-${compress}.mat`);
    fs.writeFileSync(f, matFile(svhnVars(5, [10, 1, 2, 10, 9]), compress));
    const ds = await open({ format: 'mat', path: f });
    assert.equal(ds.size, 5);
    assert.deepEqual(ds.shape, [32, 32, 3]);
    assert.deepEqual([...(await ds.labels())], [0, 1, 2, 0, 9]);
    assert.equal(ds.numClasses, 10);
    const b = await ds.read([4, 0, 2]);
    assert.deepEqual([...b.y], [9, 0, 2]);
    assertPixels(b.x, b.shape, 0, 4);
    assertPixels(b.x, b.shape, 1, 0);
    assertPixels(b.x, b.shape, 2, 2);
  });
}

test('mat: truncated, corrupted, wrong variable, label mismatch, not a mat file', async () => {
  const good = matFile(svhnVars(3, [1, 2, 3]), false);
  const tr = path.join(dir, 'trunc.mat');
  fs.writeFileSync(tr, good.subarray(0, 2000));
  await rejectsUser(open({ format: 'mat', path: tr }), /trunc\.mat: file is truncated/);
  const zc = matFile(svhnVars(3, [1, 2, 3]), true);
  const cor = Buffer.from(zc);
  for (let i = 300; i < 400; i++) cor[i] ^= 0x5a;
  const cf = path.join(dir, 'corrupt.mat');
  fs.writeFileSync(cf, cor);
  await rejectsUser(open({ format: 'mat', path: cf }), /corrupt\.mat: corrupted compressed element at byte 128/);
  const ok = path.join(dir, 'ok.mat');
  fs.writeFileSync(ok, good);
  await rejectsUser(open({ format: 'mat', path: ok, images_var: 'images' }), /ok\.mat: has no numeric variable "images" \(variables: X, y\)/);
  const [x] = svhnVars(3, [1, 2, 3]);
  const [, y2] = svhnVars(2, [1, 2]);
  const mm = path.join(dir, 'mismatch.mat');
  fs.writeFileSync(mm, matFile([x, y2], false));
  await rejectsUser(open({ format: 'mat', path: mm }), /mismatch\.mat: has 2 labels in y but 3 images in X/);
  const nm = path.join(dir, 'notmat.mat');
  fs.writeFileSync(nm, Buffer.alloc(200, 0x41));
  await rejectsUser(open({ format: 'mat', path: nm }), /notmat\.mat: not a MATLAB v5 \.mat file/);
  // unlabelled
  const un = await open({ format: 'mat', path: ok, labels_var: '' });
  assert.equal(un.numClasses, 0);
});

test('mat: num_classes for a subset that lacks the top class (SVHN without a 9)', async () => {
  const f = path.join(dir, 'no9.mat');
  fs.writeFileSync(f, matFile(svhnVars(4, [10, 1, 2, 8]), false));
  assert.equal((await open({ format: 'mat', path: f })).numClasses, 9, 'counted from the labels: one class short');
  assert.equal((await open({ format: 'mat', path: f, num_classes: 10 })).numClasses, 10);
  await rejectsUser(open({ format: 'mat', path: f, num_classes: 5 }), /no9\.mat: sample 3 has label 8 but num_classes is 5/);
});

test('npy: channels-first data read with the default layout is questioned, with the fix', async () => {
  const f = path.join(dir, 'chw.npy');
  writeNpy(f, '|u1', [2, 3, 8, 8], Buffer.alloc(2 * 3 * 8 * 8));
  await rejectsUser(open({ format: 'npy', path: f }), /chw\.npy: shape \(2, 3, 8, 8\) looks channels-first .* the default nhwc, which would read 8 channels of 3x8 images; set layout: nchw/);
  assert.deepEqual((await open({ format: 'npy', path: f, layout: 'nchw' })).shape, [8, 8, 3]);
  assert.deepEqual((await open({ format: 'npy', path: f, layout: 'nhwc' })).shape, [3, 8, 8], 'an explicit nhwc is taken as meant');
});

// ---------------- image folder ----------------

test('image-folder: class sub-folders, PNG/JPEG/WebP, resize, corrupt images', async () => {
  const sharp = (await import('sharp')).default;
  const root = path.join(dir, 'folder');
  const colours: Record<string, [number, number, number]> = { cat: [200, 10, 30], dog: [5, 120, 250] };
  for (const [cls, rgb] of Object.entries(colours)) {
    fs.mkdirSync(path.join(root, cls), { recursive: true });
    const img = () => sharp({ create: { width: 12, height: 8, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
    await img().png().toFile(path.join(root, cls, 'a.png'));
    await img().jpeg({ quality: 95 }).toFile(path.join(root, cls, 'b.jpg'));
    await img().webp({ lossless: true }).toFile(path.join(root, cls, 'c.webp'));
  }
  fs.writeFileSync(path.join(root, 'dog', 'notes.txt'), 'ignored');
  const ds = await open({ format: 'image-folder', dir: root, size: [4, 6] });
  assert.equal(ds.size, 6);
  assert.equal(ds.numClasses, 2);
  assert.deepEqual(ds.shape, [4, 6, 3]);
  assert.deepEqual([...(await ds.labels())], [0, 0, 0, 1, 1, 1]);
  const b = await ds.read([0, 1, 2, 3, 4, 5]);
  for (let i = 0; i < 6; i++) {
    const rgb = i < 3 ? colours.cat : colours.dog;
    const tol = i % 3 === 1 ? 4 : 0.5; // JPEG is lossy
    for (let c = 0; c < 3; c++) {
      const got = b.x[(i * 24 + 10) * 3 + c] * 255;
      assert.ok(Math.abs(got - rgb[c]) <= tol, `image ${i} channel ${c}: got ${got}, expected ${rgb[c]}`);
    }
  }
  // grayscale output, flat folder = unlabelled
  const gray = await open({ format: 'image-folder', dir: path.join(root, 'cat'), size: 5, channels: 1 });
  assert.deepEqual(gray.shape, [5, 5, 1]);
  assert.equal(gray.numClasses, 0);
  assert.equal((await gray.read([0])).y[0], -1);

  // corrupt + truncated images
  const good = fs.readFileSync(path.join(root, 'cat', 'b.jpg'));
  fs.writeFileSync(path.join(root, 'cat', 'd-truncated.jpg'), good.subarray(0, Math.floor(good.length / 2)));
  fs.writeFileSync(path.join(root, 'cat', 'e-garbage.png'), Buffer.from('this is not a png'));
  const strict = await open({ format: 'image-folder', dir: root, size: 4 });
  assert.equal(strict.size, 8);
  await rejectsUser(strict.read([4]), /e-garbage\.png: cannot decode image \(sample 4 of test\)/);
  const warnings: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (warnings.push(String(s)), true)) as typeof process.stderr.write;
  let lenient: Dataset;
  let cached: Dataset;
  try {
    lenient = await open({ format: 'image-folder', dir: root, size: 4, skip_corrupt: true });
    cached = await open({ format: 'image-folder', dir: root, size: 4, skip_corrupt: true, cache: true });
  } finally {
    process.stderr.write = write;
  }
  assert.equal(lenient.size, 6);
  assert.equal((lenient as unknown as { skipped: string[] }).skipped.length, 2);
  assert.match(warnings.join(''), /skipped 2 unreadable image\(s\) of 8/);
  assert.deepEqual([...(await lenient.labels())], [0, 0, 0, 1, 1, 1]);
  assert.deepEqual((await cached.read([5, 0])).x, (await lenient.read([5, 0])).x, 'decoded-at-open cache gives the same pixels');
  await rejectsUser(open({ format: 'image-folder', dir: path.join(root, 'missing'), size: 4 }), /missing: image folder not found/);
});

test('config errors name the file and key path', () => {
  assert.throws(() => spec({ format: 'npy' }), /test\.yaml: data\.test\.path: is required/);
  assert.throws(() => spec({ format: 'cifar', dir: 'x', varient: 'cifar100' }), /data\.test\.varient: unknown key \(did you mean "variant"\?\)/);
  assert.throws(() => spec({ format: 'image-folder', dir: 'x', size: [1, 2, 3] }), /data\.test\.size: expected \[height, width\]/);
  assert.throws(() => spec({ format: 'npy', path: 'x', transforms: [{ type: 'flip' }] }), /data\.test\.transforms\[0\]\.type: expected one of/);
});
