/**
 * PyTorch weight exchange (src/io/torch-weights.ts): for each architecture a
 * state_dict in PyTorch names and layout, built here from known values (no
 * Python), loads with every name and shape checked; a conv and a linear value
 * land where the transposition puts them; export gives back the same bytes;
 * missing / unexpected / mis-shaped keys are reported as PyTorch does.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/engine/backend';
import { TEST_BACKEND } from './test-backend';
import { ModelArch } from '../src/config/config';
import { checkpointBase, saveCheckpoint } from '../src/io/checkpoint';
import { loadInitWeights } from '../src/io/init-from';
import { Tensor, WritableTensor, encodeSafetensors, readSafetensors } from '../src/io/safetensors';
import { exportTorchWeights, importTorchWeights, loadTorchStateDict, torchShape } from '../src/io/torch-weights';
import { Model, namedTensors } from '../src/models/model';
import { createModel, defaultModelConfig } from '../src/models/registry';
import { UserError } from '../src/util/errors';
import { Rng } from '../src/util/rng';
import { grodd } from './cli-helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grodd-weights-'));

before(async () => {
  await useBackend(TEST_BACKEND, { wasmThreads: 1 });
});

function build(arch: ModelArch, input: [number, number, number], k: number, seed = 1): Model {
  return createModel(defaultModelConfig(arch), input, k, new Rng(seed));
}

function dispose(m: Model): void {
  for (const v of namedTensors(m).values()) v.dispose();
}

/** Value j of tensor `name` in the file (PyTorch layout, row-major): distinct per tensor and position. */
function known(name: string, j: number): number {
  return knownArray(name, j + 1)[j];
}

function knownArray(name: string, n: number): Float32Array {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % 1000;
  const shift = name.endsWith('running_var') ? 1 : 0;
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) out[j] = Math.sin(h + j * 0.37) * 0.5 + shift;
  return out;
}

/** The state_dict PyTorch would save for `m`: its names, PyTorch shapes, known values, BN counters. */
function torchStateDict(m: Model): Record<string, WritableTensor> {
  const sd: Record<string, WritableTensor> = {};
  for (const [name, v] of namedTensors(m)) {
    const shape = torchShape(v.shape);
    sd[name] = { dtype: 'F32', shape, data: knownArray(name, v.size) };
    if (name.endsWith('.running_var')) sd[name.replace(/running_var$/, 'num_batches_tracked')] = { dtype: 'I64', shape: [], data: BigInt64Array.from([123n]) };
  }
  return sd;
}

const CASES: { arch: ModelArch; input: [number, number, number]; k: number; conv: string; head: string; tensors: number }[] = [
  { arch: 'resnet18', input: [32, 32, 3], k: 10, conv: 'layer2.0.shortcut.0.weight', head: 'linear', tensors: 122 },
  { arch: 'wrn-40-2', input: [32, 32, 3], k: 10, conv: 'block2.layer.0.conv1.weight', head: 'fc', tensors: 227 },
  { arch: 'densenet-bc-100', input: [32, 32, 3], k: 10, conv: 'block3.layer.15.conv2.weight', head: 'fc', tensors: 596 },
  { arch: 'densenet121', input: [224, 224, 3], k: 1000, conv: 'features.denseblock4.denselayer16.conv2.weight', head: 'classifier', tensors: 727 },
];

for (const c of CASES) {
  test(`${c.arch}: a PyTorch state_dict loads (names, shapes, transposed values) and exports back byte-identical`, async () => {
    const m = build(c.arch, c.input, c.k);
    const sd = torchStateDict(m);
    assert.equal(Object.keys(sd).length, c.tensors, 'PyTorch state_dict size (with num_batches_tracked)');
    const file = path.join(tmp, `${c.arch}.safetensors`);
    fs.writeFileSync(file, encodeSafetensors(sd));
    const report = await importTorchWeights(file, m);
    assert.equal(report.loaded.length, namedTensors(m).size);
    assert.deepEqual([report.missing, report.unexpected, report.mismatched], [[], [], []]);

    // Conv: file [out, in, kh, kw] -> grodd [kh, kw, in, out].
    const w = m.params.get(c.conv)!;
    const [kh, kw, cin, cout] = w.shape;
    const got = w.dataSync();
    const probes: number[][] = [[0, 0, 0, 0], [cout - 1, cin - 1, kh - 1, kw - 1], [1, 2, kh - 1, 0]];
    for (const [o, i, h, x] of probes) {
      const fileIdx: number = ((o * cin + i) * kh + h) * kw + x;
      assert.equal(got[((h * kw + x) * cin + i) * cout + o], known(c.conv, fileIdx), `${c.conv}[${o},${i},${h},${x}]`);
    }
    // Linear: file [out, in] -> grodd [in, out].
    const lw = m.params.get(`${c.head}.weight`)!;
    const [din, dout] = lw.shape;
    assert.equal(lw.dataSync()[(din - 1) * dout + 2], known(`${c.head}.weight`, 2 * din + din - 1));

    const out = path.join(tmp, `${c.arch}-export.safetensors`);
    await exportTorchWeights(m, out);
    const back = (await readSafetensors(out)).tensors;
    assert.deepEqual(Object.keys(back).sort(), Object.keys(sd).sort());
    for (const [name, t] of Object.entries(sd)) {
      if (name.endsWith('num_batches_tracked')) {
        assert.deepEqual([back[name].dtype, back[name].shape, Array.from(back[name].data as BigInt64Array)], ['I64', [], [0n]]);
        continue;
      }
      assert.deepEqual(back[name].shape, t.shape, name);
      assert.ok(Buffer.from((back[name].data as Float32Array).buffer).equals(Buffer.from((t.data as Float32Array).buffer)), `${name}: bytes differ`);
    }
    dispose(m);
  });
}

function decoded(sd: Record<string, WritableTensor>): Record<string, Tensor> {
  return sd as unknown as Record<string, Tensor>;
}

test('strict loading names missing, unexpected and mis-shaped keys (PyTorch shapes) and changes nothing; --non-strict loads the rest', () => {
  const m = build('resnet18', [32, 32, 3], 10);
  const sd = torchStateDict(m);
  for (const h of ['linear.weight', 'linear.bias']) {
    const shape = h.endsWith('weight') ? [100, 512] : [100];
    sd[h] = { dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b)) };
  }
  delete sd['layer3.1.bn2.running_mean'];
  sd['extra.weight'] = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
  const before = m.params.get('conv1.weight')!.dataSync().slice();
  assert.throws(
    () => loadTorchStateDict(m, decoded(sd), { source: 'ckpt.safetensors' }),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^ckpt\.safetensors: error\(s\) loading the state_dict into resnet18/);
      assert.match(e.message, /missing key\(s\) in state_dict \(1\): "layer3\.1\.bn2\.running_mean"/);
      assert.match(e.message, /unexpected key\(s\) in state_dict \(1\): "extra\.weight"/);
      assert.match(e.message, /size mismatch for linear\.weight: the file has shape \[100, 512\], the resnet18 model expects \[10, 512\]; linear\.bias/);
      assert.match(e.message, /--non-strict/);
      return true;
    },
  );
  assert.deepEqual(m.params.get('conv1.weight')!.dataSync(), before, 'a failed strict load assigns nothing');
  const warnings: string[] = [];
  const r = loadTorchStateDict(m, decoded(sd), { source: 'ckpt.safetensors', strict: false, warn: (w) => warnings.push(w) });
  assert.equal(r.loaded.length, namedTensors(m).size - 3);
  assert.equal(warnings.length, 1);
  assert.equal(m.params.get('conv1.weight')!.dataSync()[0], known('conv1.weight', 0 * 27));
  dispose(m);
});

test('aliases: a DataParallel module. prefix, and fc.* / downsample.* for resnet18', () => {
  const m = build('resnet18', [32, 32, 3], 10);
  const sd: Record<string, WritableTensor> = {};
  for (const [k, t] of Object.entries(torchStateDict(m))) sd[`module.${k.replace(/^linear\./, 'fc.').replace('.shortcut.', '.downsample.')}`] = t;
  const r = loadTorchStateDict(m, decoded(sd), { source: 'dp.safetensors' });
  assert.equal(r.loaded.length, namedTensors(m).size);
  assert.ok(r.renamed.includes('module.fc.weight -> linear.weight'));
  assert.ok(r.renamed.includes('module.layer2.0.downsample.0.weight -> layer2.0.shortcut.0.weight'));
  dispose(m);
});

test('F64 and integer tensors: doubles are narrowed, integer weights refused', () => {
  const m = build('wrn-40-2', [32, 32, 3], 10);
  const sd = torchStateDict(m);
  const fc = sd['fc.bias'];
  sd['fc.bias'] = { dtype: 'F64', shape: fc.shape, data: Float64Array.from(fc.data as Float32Array) };
  loadTorchStateDict(m, decoded(sd), { source: 'f64' });
  assert.equal(m.params.get('fc.bias')!.dataSync()[3], known('fc.bias', 3));
  sd['fc.bias'] = { dtype: 'I32', shape: fc.shape, data: new Int32Array(10) };
  assert.throws(() => loadTorchStateDict(m, decoded(sd), { source: 'int' }), /int: tensor "fc\.bias" has dtype I32; weights must be floating point/);
  dispose(m);
});

test('pickled PyTorch files are refused with one line of Python that converts them, never over an existing file', async () => {
  const m = build('small-cnn', [28, 28, 1], 10);
  const oneLine = (e: unknown): string => {
    assert.ok(e instanceof UserError);
    assert.ok(!e.message.includes('\n'), e.message);
    return e.message;
  };
  await assert.rejects(importTorchWeights('weights/model.pth', m), (e: unknown) => {
    const msg = oneLine(e);
    assert.ok(msg.includes(`python -c "import torch; from safetensors.torch import save_file; sd = torch.load('weights/model.pth', map_location='cpu'); sd = sd.get('state_dict', sd.get('model', sd)); save_file({k: v.contiguous() for k, v in sd.items()}, 'weights/model.safetensors')"`), msg);
    return true;
  });
  // the suggested output never names an existing file
  const pth = path.join(tmp, 'taken.pth');
  fs.writeFileSync(path.join(tmp, 'taken.safetensors'), 'x');
  await assert.rejects(importTorchWeights(pth, m), (e: unknown) => oneLine(e).includes(`'${path.join(tmp, 'taken.converted.safetensors')}'`));
  // a pickle renamed to .safetensors is known by its first bytes: torch.save's zip, or a bare pickle stream
  for (const [name, head] of [['zip', [0x50, 0x4b, 0x03, 0x04]], ['legacy', [0x80, 0x02, 0x8a, 0x0a]]] as const) {
    const f = path.join(tmp, `${name}.safetensors`);
    fs.writeFileSync(f, Buffer.concat([Buffer.from(head), Buffer.alloc(64)]));
    await assert.rejects(importTorchWeights(f, m), (e: unknown) => /a PyTorch pickle \(torch\.save\) file, despite its name; grodd reads \.safetensors only/.test(oneLine(e)) && oneLine(e).includes(`${name}.converted.safetensors`));
  }
  dispose(m);
});

test('wrapper prefixes model. / backbone. / module. are dropped; an unknown one is named', () => {
  const m = build('wrn-40-2', [32, 32, 3], 10);
  const sd = torchStateDict(m);
  for (const prefix of ['model.', 'backbone.', 'module.backbone.']) {
    const r = loadTorchStateDict(m, decoded(Object.fromEntries(Object.entries(sd).map(([k, t]) => [prefix + k, t]))), { source: prefix });
    assert.equal(r.prefix, prefix);
    assert.equal(r.loaded.length, namedTensors(m).size);
  }
  const enc = decoded(Object.fromEntries(Object.entries(sd).map(([k, t]) => [`encoder.${k}`, t])));
  assert.throws(() => loadTorchStateDict(m, enc, { source: 'enc.safetensors' }), /enc\.safetensors: no tensor of the file matches the wrn-40-2 model; every key starts with "encoder\.": if that is a wrapper's prefix, save the state_dict without it/);
  dispose(m);
});

test('resnet18 namings: OpenOOD\'s fc head and torchvision\'s fc/downsample are recognised and written back; num_batches_tracked is kept', async () => {
  const m = build('resnet18', [32, 32, 3], 10);
  const canonical = torchStateDict(m);
  const openood = Object.fromEntries(Object.entries(canonical).map(([k, t]) => [k.replace(/^linear\./, 'fc.'), t]));
  const torchvision = Object.fromEntries(Object.entries(openood).map(([k, t]) => [k.replace('.shortcut.', '.downsample.'), t]));
  for (const [naming, sd] of [['grodd', canonical], ['openood', openood], ['torchvision', torchvision]] as const) {
    const r = loadTorchStateDict(m, decoded(sd), { source: naming });
    assert.equal(r.naming, naming);
    assert.equal(r.batchesTracked, 123);
    const out = path.join(tmp, `resnet-${naming}.safetensors`);
    await exportTorchWeights(m, out, {}, { naming: r.naming, batchesTracked: 456 });
    const back = (await readSafetensors(out)).tensors;
    assert.deepEqual(Object.keys(back).sort(), Object.keys(sd).sort(), `${naming}: the same keys as the file (load_state_dict strict=True)`);
    assert.deepEqual(Array.from(back['bn1.num_batches_tracked'].data as BigInt64Array), [456n]);
  }
  await assert.rejects(exportTorchWeights(m, path.join(tmp, 'x.safetensors'), {}, { naming: 'keras' }), /--naming: resnet18 has no naming "keras" \(expected one of grodd, openood, torchvision\)/);

  // through the CLI: the run remembers the naming and export writes it again (--naming chooses another, as above)
  const file = path.join(tmp, 'openood.safetensors');
  fs.writeFileSync(file, encodeSafetensors(openood));
  const run = path.join(tmp, 'run-openood');
  const r = grodd('import', '--arch', 'resnet18', '--from', file, '--out', run);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /; openood key naming, which export keeps/);
  const out = path.join(tmp, 'back-openood.safetensors');
  const e = grodd('export', '--run', run, '--out', out);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stderr, /openood key naming/);
  assert.deepEqual(Object.keys((await readSafetensors(out)).tensors).sort(), Object.keys(openood).sort());
  dispose(m);
});

test('model.init_from: a run directory, a checkpoint path, or a PyTorch .safetensors; arch and classes checked', async () => {
  const src = build('small-cnn', [28, 28, 1], 4, 5);
  const run = path.join(tmp, 'run-init');
  const info = { arch: src.arch, num_classes: 4, input_shape: [28, 28, 1] as [number, number, number], backend: 'test', margins: { m_in: null, m_out: null } };
  await saveCheckpoint(checkpointBase(run, 0), src, { ...info, epoch: 0 });
  await saveCheckpoint(checkpointBase(run, 2), src, { ...info, epoch: 2 });
  const want = src.params.get('fc.weight')!.dataSync();
  const dst = build('small-cnn', [28, 28, 1], 4, 6);
  assert.match((await loadInitWeights(run, dst)).what, /epoch-0002/);
  assert.deepEqual(dst.params.get('fc.weight')!.dataSync(), want);
  const dst2 = build('small-cnn', [28, 28, 1], 4, 7);
  await loadInitWeights(`${checkpointBase(run, 0)}.safetensors`, dst2);
  assert.deepEqual(dst2.params.get('fc.weight')!.dataSync(), want);
  const pt = path.join(tmp, 'init.safetensors');
  await exportTorchWeights(src, pt);
  const dst3 = build('small-cnn', [28, 28, 1], 4, 8);
  assert.match((await loadInitWeights(pt, dst3)).what, /PyTorch state_dict/);
  assert.deepEqual(dst3.params.get('fc.weight')!.dataSync(), want);
  const other = build('small-cnn', [28, 28, 1], 3);
  await assert.rejects(loadInitWeights(run, other), /made for 4 classes, the ID training set has 3/);
  await assert.rejects(loadInitWeights(path.join(tmp, 'nope'), other), /model\.init_from: .*nope not found/);
  tf.dispose([...[src, dst, dst2, dst3, other].flatMap((m) => [...namedTensors(m).values()])]);
});
