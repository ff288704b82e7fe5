import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { UserError } from '../src/util/errors';

/** A safetensors file by hand: length, header text padded with spaces to a multiple of 8, data bytes. */
function build(header: string, data: ArrayLike<number> = [], pad = true): Buffer {
  const h = Buffer.from(header, 'utf8');
  const n = pad ? h.length + ((8 - (h.length % 8)) % 8) : h.length;
  const out = Buffer.alloc(8 + n + data.length, 0x20);
  out.writeBigUInt64LE(BigInt(n), 0);
  h.copy(out, 8);
  Buffer.from(Array.from(data)).copy(out, 8 + n);
  return out;
}

const userError = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message);

test('encoding matches the reference layout byte for byte', () => {
  const got = encodeSafetensors(
    { b: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) }, a: { dtype: 'U8', shape: [1, 3], data: new Uint8Array([1, 2, 3]) } },
    { format: 'np' },
  );
  // Names sorted, data in that order (a's 3 bytes, then b's 8), __metadata__ first, no spaces, space-padded.
  const expected = build(
    '{"__metadata__":{"format":"np"},"a":{"dtype":"U8","shape":[1,3],"data_offsets":[0,3]},"b":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}}',
    [1, 2, 3, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0],
  );
  assert.deepEqual(got, expected);
  assert.equal((got.length - 11) % 8, 0);
});

test('round trip of every writable dtype through a file, with metadata', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grodd-st-'));
  const file = join(dir, 'model.safetensors');
  const tensors = {
    'layer.weight': { dtype: 'F32' as const, shape: [2, 3], data: new Float32Array([0.1, -2, 3.5, 1e-30, Infinity, -0]) },
    f64: { dtype: 'F64' as const, shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    i64: { dtype: 'I64' as const, shape: [2], data: new BigInt64Array([-(2n ** 62n), 7n]) },
    i32: { dtype: 'I32' as const, shape: [3], data: new Int32Array([-1, 0, 2 ** 31 - 1]) },
    i16: { dtype: 'I16' as const, shape: [1], data: new Int16Array([-300]) },
    i8: { dtype: 'I8' as const, shape: [1], data: new Int8Array([-5]) },
    u8: { dtype: 'U8' as const, shape: [2, 0], data: new Uint8Array(0) },
    mask: { dtype: 'BOOL' as const, shape: [3], data: new Uint8Array([1, 0, 1]) },
    scalar: { dtype: 'F32' as const, shape: [], data: new Float32Array([42]) },
  };
  await writeSafetensors(file, tensors, { step: '100', note: 'ünïcode' });
  assert.deepEqual(readdirSync(dir), ['model.safetensors'], 'no temporary file is left behind');
  const back = await readSafetensors(file);
  assert.deepEqual(back.metadata, { step: '100', note: 'ünïcode' });
  assert.deepEqual(Object.keys(back.tensors), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) assert.deepEqual(back.tensors[name], t, name);
  // Overwriting goes through rename as well.
  await writeSafetensors(file, { x: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
  assert.deepEqual((await readSafetensors(file)).metadata, {});
  assert.deepEqual(readdirSync(dir), ['model.safetensors']);
});

test('hand-built F16, BF16 and F64 decode to the right numbers', () => {
  // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001, -inf = 0xfc00, NaN = 0x7e00.
  // BF16: 1.0 = 0x3f80, -0.5 = 0xbf00.  F64: 1.5 = 0x3ff8000000000000.
  const f16 = [0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0xfc, 0x00, 0x7e];
  const bf16 = [0x80, 0x3f, 0x00, 0xbf];
  const f64 = [0, 0, 0, 0, 0, 0, 0xf8, 0x3f];
  const buf = build(
    '{"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},' +
      '"d":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}}',
    [...f16, ...bf16, ...f64],
  );
  const { tensors, metadata } = decodeSafetensors(buf);
  assert.deepEqual(metadata, {});
  assert.deepEqual(Object.keys(tensors), ['b', 'd', 'h']);
  assert.equal(tensors.h.dtype, 'F16');
  assert.deepEqual(tensors.h.shape, [2, 3]);
  assert.ok(tensors.h.data instanceof Float32Array);
  assert.deepEqual(Array.from(tensors.h.data as Float32Array), [1, -2, 65504, 2 ** -24, -Infinity, NaN]);
  assert.deepEqual(tensors.b.data, new Float32Array([1, -0.5]));
  assert.deepEqual(tensors.d.data, new Float64Array([1.5]));
});

test('a header that is not padded, and a subarray input, are accepted', () => {
  const raw = build('{"x":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}', [5, 0, 0, 0], false);
  const inner = Buffer.concat([Buffer.from([9, 9, 9]), raw]).subarray(3);
  assert.deepEqual(decodeSafetensors(inner).tensors.x.data, new Int32Array([5]));
});

test('truncation is reported with the file name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grodd-st-'));
  const file = join(dir, 'cut.safetensors');
  const good = encodeSafetensors({ w: { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
  writeFileSync(file, good.subarray(0, good.length - 3));
  await assert.rejects(readSafetensors(file), userError(/cut\.safetensors: tensor "w": data_offsets \[0, 16\] run past the end of the data section \(13 bytes\); is the file truncated\?/));
  writeFileSync(file, good.subarray(0, 5));
  await assert.rejects(readSafetensors(file), userError(/cut\.safetensors: file is truncated: 5 bytes, less than the 8-byte header length/));
  writeFileSync(file, good.subarray(0, 20));
  await assert.rejects(readSafetensors(file), userError(/cut\.safetensors: file is truncated: the header needs \d+ bytes but only 12 follow/));
  await assert.rejects(readSafetensors(join(dir, 'missing.safetensors')), userError(/missing\.safetensors: file not found/));
});

test('each malformed header is a precise UserError', () => {
  const cases: Array<[Buffer, RegExp]> = [
    [build('{"x": nope}'), /f\.st: header is not valid JSON/],
    [build('[1,2]'), /f\.st: header does not start with "\{"/],
    [Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), Buffer.alloc(8)]), /f\.st: header length 4294967295 is over 100000000 bytes/],
    [build('{"__metadata__":{"a":1}}'), /f\.st: __metadata__ "a" must be a string/],
    [build('{"x":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', [0]), /f\.st: tensor "x": unknown dtype "F8_E4M3" \(supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL\)/],
    [build('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /tensor "x": shape \[2\] of F32 needs 8 bytes but data_offsets \[0, 4\] cover 4/],
    [build('{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /tensor "x": shape must be a list of non-negative integers/],
    [build('{"x":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}', [0]), /tensor "x": data_offsets \[1, 0\] end before they begin/],
    [build('{"x":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', [0]), /tensor "x": data_offsets must be two non-negative integers/],
    [
      build('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', [0, 0, 0]),
      /tensor "b" data_offsets \[1, 3\] overlap tensor "a" \[0, 2\]/,
    ],
    [build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', [0, 0]), /data bytes 0\.\.1 before tensor "a" belong to no tensor/],
    [build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [0, 0]), /1 bytes after the last tensor belong to no tensor/],
    [build('{"m":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}', [2]), /tensor "m": BOOL element 0 is 2, not 0 or 1/],
  ];
  for (const [buf, re] of cases) assert.throws(() => decodeSafetensors(buf, 'f.st'), userError(re), String(re));
  // Unsorted offsets are fine as long as they tile the data: the header order carries no meaning.
  const swapped = build('{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [7, 8]);
  assert.deepEqual(decodeSafetensors(swapped).tensors.b.data, new Uint8Array([8]));
});

test('bad tensors are refused before anything is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grodd-st-'));
  const file = join(dir, 'out.safetensors');
  const bad = [
    [{ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }, /out\.safetensors: tensor "w": shape \[3\] has 3 elements but the data has 2/],
    [{ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) } }, /tensor "w": dtype F32 needs a Float32Array, got Float64Array/],
    [{ w: { dtype: 'F16', shape: [2], data: new Float32Array(2) } }, /tensor "w": cannot write dtype "F16"/],
    [{ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }, /the name is reserved for metadata/],
    [{ m: { dtype: 'BOOL', shape: [1], data: new Uint8Array([3]) } }, /tensor "m": BOOL element 0 is 3/],
  ] as const;
  for (const [tensors, re] of bad) {
    // `as never`: these deliberately break the types, as a caller passing data read elsewhere might.
    await assert.rejects(writeSafetensors(file, tensors as never), userError(re), String(re));
  }
  await assert.rejects(writeSafetensors(join(dir, 'no', 'such', 'x.safetensors'), {}), userError(/x\.safetensors: cannot write: its directory does not exist/));
  assert.deepEqual(readdirSync(dir), []);
  // An empty file (no tensors) is valid: header "{}" padded to 8 bytes.
  await writeSafetensors(file, {});
  assert.deepEqual(readFileSync(file), build('{}'));
  assert.deepEqual(await readSafetensors(file), { tensors: {}, metadata: {} });
});
