/**
 * Weight exchange with PyTorch through .safetensors files holding a model's
 * state_dict (e.g. written by `safetensors.torch.save_file(model.state_dict(), f)`).
 *
 * Names: grodd's weights already carry the reference implementations'
 * state_dict names (see each architecture's file under src/models), so the
 * name map is the identity except for a few aliases accepted on import:
 *   - a `module.` prefix on every key (nn.DataParallel checkpoints) is dropped;
 *   - resnet18: `fc.*` is read as `linear.*` and `downsample.*` as `shortcut.*`
 *     (CIFAR ResNet repos that follow torchvision's head/shortcut names).
 * Export always writes the canonical names.
 *
 * Layout: conv kernels PyTorch [out, in, kh, kw] <-> grodd [kh, kw, in, out];
 * linear weights [out, in] <-> [in, out]; biases, BN weights and running
 * statistics are 1-D in both. Tensors are float32 in grodd; F64/F16/BF16 files
 * are converted to float32 on import, and export writes F32.
 *
 * `*.num_batches_tracked` (BN's step counter, an I64 scalar): ignored on import
 * (present or not, never reported as missing or unexpected; grodd uses momentum
 * 0.1 as PyTorch does by default, which never reads the counter); written on
 * export as I64 0 for every BN layer, so that the file has exactly the keys of
 * the PyTorch model's state_dict() and loads with strict=True.
 *
 * Checks as PyTorch's load_state_dict: missing and unexpected keys are an
 * error in strict mode (the default) and a warning otherwise; a shape mismatch
 * is named with both shapes in PyTorch layout; in non-strict mode the
 * mismatched tensor is skipped (keeps its initialisation), e.g. a classifier
 * head for another number of classes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Model, namedTensors } from '../models/model';
import { UserError } from '../util/errors';
import * as tf from '@tensorflow/tfjs-core';
import { Tensor, WritableTensor, readSafetensors, writeSafetensors } from './safetensors';
import { ensureDir } from './atomic-write';

const NBT = '.num_batches_tracked';

/** Per-architecture key aliases accepted on import: [file prefix/infix, grodd's]. */
const ALIASES: Record<string, [RegExp, string][]> = {
  resnet18: [
    [/^fc\./, 'linear.'],
    [/\.downsample\./, '.shortcut.'],
  ],
};

/** PyTorch's shape of a grodd tensor shape. */
export function torchShape(shape: readonly number[]): number[] {
  if (shape.length === 4) return [shape[3], shape[2], shape[0], shape[1]];
  if (shape.length === 2) return [shape[1], shape[0]];
  return [...shape];
}

/** PyTorch conv [O, I, H, W] -> grodd [H, W, I, O]. */
function convFromTorch(src: Float32Array, [O, I, H, W]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  let s = 0;
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out[((h * W + w) * I + i) * O + o] = src[s++];
  return out;
}

/** grodd conv [H, W, I, O] -> PyTorch [O, I, H, W]. */
function convToTorch(src: Float32Array, [H, W, I, O]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  let s = 0;
  for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) out[((o * I + i) * H + h) * W + w] = src[s++];
  return out;
}

/** 2-D transpose of a row-major [R, C] matrix. */
function transpose2(src: Float32Array, R: number, C: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = src[r * C + c];
  return out;
}

/** A tensor in PyTorch layout converted to grodd's layout (shape given in grodd's layout). */
export function fromTorchLayout(data: Float32Array, groddShape: readonly number[]): Float32Array {
  if (groddShape.length === 4) return convFromTorch(data, torchShape(groddShape));
  if (groddShape.length === 2) return transpose2(data, groddShape[1], groddShape[0]);
  return data;
}

/** A tensor in grodd's layout converted to PyTorch layout. */
export function toTorchLayout(data: Float32Array, groddShape: readonly number[]): Float32Array {
  if (groddShape.length === 4) return convToTorch(data, [...groddShape]);
  if (groddShape.length === 2) return transpose2(data, groddShape[0], groddShape[1]);
  return data;
}

function asFloat32(t: Tensor, name: string, source: string): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  throw new UserError(`${source}: tensor "${name}" has dtype ${t.dtype}; weights must be floating point (F32, F64, F16 or BF16)`);
}

/** The outcome of matching a state_dict against a model. */
export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  /** "name: file [..] vs model [..]" (PyTorch layout). */
  mismatched: string[];
  /** Keys renamed by an alias or prefix rule, "file name -> grodd name". */
  renamed: string[];
}

const list = (names: string[], max = 12): string =>
  names.slice(0, max).map((n) => `"${n}"`).join(', ') + (names.length > max ? `, ... (${names.length - max} more)` : '');

/** The report as PyTorch words it ("Missing key(s) in state_dict: ..."), one problem kind per sentence. */
export function describeReport(r: LoadReport): string {
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing key(s) in state_dict (${r.missing.length}): ${list(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected key(s) in state_dict (${r.unexpected.length}): ${list(r.unexpected)}`);
  if (r.mismatched.length) parts.push(`size mismatch for ${r.mismatched.slice(0, 12).join('; ')}${r.mismatched.length > 12 ? `; ... (${r.mismatched.length - 12} more)` : ''}`);
  return parts.join('. ');
}

/** Maps the file's keys to grodd names (prefix and alias rules). */
function canonicalNames(keys: string[], arch: string, want: Set<string>): Map<string, string> {
  const map = new Map<string, string>();
  const strip = keys.length > 0 && keys.every((k) => k.startsWith('module.'));
  for (const k of keys) {
    let name = strip ? k.slice('module.'.length) : k;
    if (!want.has(name)) {
      for (const [re, to] of ALIASES[arch] ?? []) {
        const alt = name.replace(re, to);
        if (alt !== name && want.has(alt)) {
          name = alt;
          break;
        }
      }
    }
    map.set(k, name);
  }
  return map;
}

/**
 * Loads a PyTorch state_dict (decoded safetensors tensors) into `model`.
 * Nothing is assigned unless the whole dict passes the checks (strict), so a
 * failed import leaves the model untouched.
 */
export function loadTorchStateDict(
  model: Model,
  tensors: Record<string, Tensor>,
  opts: { strict?: boolean; source: string; warn?: (msg: string) => void },
): LoadReport {
  const strict = opts.strict ?? true;
  const want = namedTensors(model);
  const names = canonicalNames(Object.keys(tensors), model.arch, new Set(want.keys()));
  const byName = new Map<string, [string, Tensor]>();
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [], renamed: [] };
  for (const [fileKey, name] of names) {
    if (name.endsWith(NBT)) continue;
    if (!want.has(name)) {
      report.unexpected.push(fileKey);
      continue;
    }
    if (byName.has(name)) throw new UserError(`${opts.source}: keys "${byName.get(name)![0]}" and "${fileKey}" both map to ${name}`);
    byName.set(name, [fileKey, tensors[fileKey]]);
    if (fileKey !== name) report.renamed.push(`${fileKey} -> ${name}`);
  }
  const updates: [tf.Variable, Float32Array][] = [];
  for (const [name, v] of want) {
    const hit = byName.get(name);
    if (!hit) {
      report.missing.push(name);
      continue;
    }
    const [fileKey, t] = hit;
    const expected = torchShape(v.shape);
    if (t.shape.join(',') !== expected.join(',')) {
      report.mismatched.push(`${fileKey}: the file has shape [${t.shape.join(', ')}], the ${model.arch} model expects [${expected.join(', ')}]`);
      continue;
    }
    updates.push([v, fromTorchLayout(asFloat32(t, fileKey, opts.source), v.shape)]);
    report.loaded.push(name);
  }
  const problems = report.missing.length + report.unexpected.length + report.mismatched.length;
  if (problems && strict) {
    throw new UserError(
      `${opts.source}: error(s) loading the state_dict into ${model.arch} (${model.numClasses} classes): ${describeReport(report)}` +
        `; use --non-strict to load the matching tensors anyway`,
    );
  }
  if (problems) opts.warn?.(`${opts.source}: loaded ${report.loaded.length} of ${want.size} tensors; ${describeReport(report)} (skipped: --non-strict)`);
  if (report.loaded.length === 0) throw new UserError(`${opts.source}: no tensor of the file matches the ${model.arch} model; is --arch right?`);
  for (const [v, data] of updates) v.assign(tf.tidy(() => tf.tensor(data, v.shape)));
  return report;
}

/** The model's weights and buffers as a PyTorch state_dict (names, layout, num_batches_tracked). */
export async function torchStateDict(model: Model): Promise<Record<string, WritableTensor>> {
  const out: Record<string, WritableTensor> = {};
  for (const [name, v] of namedTensors(model)) {
    const data = (await v.data()) as Float32Array;
    out[name] = { dtype: 'F32', shape: torchShape(v.shape), data: toTorchLayout(data, v.shape) };
    if (name.endsWith('.running_var')) {
      out[name.slice(0, -'.running_var'.length) + NBT] = { dtype: 'I64', shape: [], data: new BigInt64Array(1) };
    }
  }
  return out;
}

const PICKLE_EXT = /\.(pt|pth|pkl|pickle|bin|ckpt|tar)$/i;

/** Refuses pickled PyTorch files with the line of Python that converts them. */
export function checkSafetensorsPath(file: string): void {
  if (PICKLE_EXT.test(file)) {
    const out = file.replace(PICKLE_EXT, '.safetensors');
    throw new UserError(
      `${file}: grodd reads PyTorch weights from .safetensors files only (a pickled .pt/.pth file can run arbitrary code and needs Python to read). Convert it with:\n` +
        `  python -c "import torch; from safetensors.torch import save_file; save_file(torch.load('${file}', map_location='cpu'), '${out}')"\n` +
        `If the file holds a dict with the weights under 'state_dict' or 'model' (a training checkpoint), save that entry: ` +
        `torch.load('${file}', map_location='cpu')['state_dict'] (or ['model']); save_file needs plain contiguous tensors (add {k: v.contiguous() for k, v in ...items()} if it complains).`,
    );
  }
}

/** Reads a PyTorch .safetensors state_dict into `model`. */
export async function importTorchWeights(
  file: string,
  model: Model,
  opts: { strict?: boolean; warn?: (msg: string) => void } = {},
): Promise<LoadReport> {
  checkSafetensorsPath(file);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UserError(`${file}: is a directory, expected a .safetensors file`);
  const { tensors } = await readSafetensors(file);
  return loadTorchStateDict(model, tensors, { ...opts, source: file });
}

/** Writes the model as a PyTorch .safetensors state_dict. */
export async function exportTorchWeights(model: Model, file: string, metadata: Record<string, string> = {}): Promise<number> {
  const sd = await torchStateDict(model);
  ensureDir(path.dirname(path.resolve(file)));
  await writeSafetensors(file, sd, { format: 'pt', arch: model.arch, num_classes: String(model.numClasses), exported_by: 'grodd', ...metadata });
  return Object.keys(sd).length;
}

/**
 * Number of classes a state_dict was trained for, read from the classifier
 * head (`name.weight` of PyTorch shape [K, d]), or undefined.
 */
export function headClasses(tensors: Record<string, Tensor>, arch: string): number | undefined {
  const heads = arch === 'densenet121' ? ['classifier'] : arch === 'resnet18' ? ['linear', 'fc'] : ['fc'];
  for (const key of Object.keys(tensors)) {
    const k = key.startsWith('module.') ? key.slice(7) : key;
    if (heads.some((h) => k === `${h}.weight`) && tensors[key].shape.length === 2) return tensors[key].shape[0];
  }
  return undefined;
}
