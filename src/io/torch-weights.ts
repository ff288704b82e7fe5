/**
 * Weight exchange with PyTorch through .safetensors files holding a model's
 * state_dict (e.g. written by `safetensors.torch.save_file(model.state_dict(), f)`).
 *
 * Names: grodd's weights already carry the reference implementations'
 * state_dict names (see each architecture's file under src/models), so the
 * name map is the identity except for:
 *   - a wrapper's prefix on every key, dropped on import: `module.`
 *     (nn.DataParallel), `model.`, `backbone.` (training frameworks); any other
 *     prefix shared by every key is named in the error;
 *   - resnet18's namings (NAMINGS): grodd's `linear.*` head and `shortcut.*`
 *     projections, OpenOOD's and the GReg authors' `fc.*` head, torchvision's
 *     `fc.*` and `downsample.*`. Import reads any of them and records which one
 *     the file used; export writes that one again (or `--naming`), so the file
 *     loads back with load_state_dict(strict=True).
 *
 * Layout: conv kernels PyTorch [out, in, kh, kw] <-> grodd [kh, kw, in, out];
 * linear weights [out, in] <-> [in, out]; biases, BN weights and running
 * statistics are 1-D in both. Tensors are float32 in grodd; F64/F16/BF16 files
 * are converted to float32 on import, and export writes F32.
 *
 * `*.num_batches_tracked` (BN's step counter, an I64 scalar): never reported
 * as missing or unexpected on import (grodd uses momentum 0.1 as PyTorch does by
 * default, which never reads the counter), but its value is kept: checkpoints
 * count the training steps on top of it, and export writes that count for every
 * BN layer, so that the file has exactly the keys of the PyTorch model's
 * state_dict() and loads with strict=True.
 *
 * Checks as PyTorch's load_state_dict: missing and unexpected keys are an
 * error in strict mode (the default) and a warning otherwise; a shape mismatch
 * is named with both shapes in PyTorch layout; in non-strict mode the
 * mismatched tensor is skipped (keeps its initialisation), e.g. a classifier
 * head for another number of classes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Model, assignValues, namedTensors } from '../models/model';
import { UserError } from '../util/errors';
import * as tf from '@tensorflow/tfjs-core';
import { Tensor, WritableTensor, readSafetensors, writeSafetensors } from './safetensors';
import { ensureDir } from './atomic-write';

const NBT = '.num_batches_tracked';

/** A rename between grodd's name part and another implementation's: [grodd's, theirs] (a leading part, or `.x.` inside). */
type Alias = [grodd: string, theirs: string];

/** The key namings of each architecture's reference implementations; `grodd` is the identity. */
export const NAMINGS: Record<string, Record<string, Alias[]>> = {
  resnet18: {
    grodd: [],
    openood: [['linear.', 'fc.']],
    torchvision: [['linear.', 'fc.'], ['.shortcut.', '.downsample.']],
  },
};

/** The namings `arch` can be exported with. */
export function namingsOf(arch: string): string[] {
  return Object.keys(NAMINGS[arch] ?? { grodd: [] });
}

const swap = (name: string, from: string, to: string): string => (from.startsWith('.') ? name.replace(from, to) : name.startsWith(from) ? to + name.slice(from.length) : name);

/** Wrapper prefixes dropped on import when every key has one. */
const WRAPPERS = ['module.', 'model.', 'backbone.'];

/** Drops wrapper prefixes that every key shares (nested ones too, e.g. module.backbone.). */
function stripWrappers(keys: string[]): string {
  let prefix = '';
  for (;;) {
    const w = WRAPPERS.find((p) => keys.length > 0 && keys.every((k) => k.startsWith(prefix + p)));
    if (!w) return prefix;
    prefix += w;
  }
}

/** A dotted prefix that every key shares, e.g. `encoder.` (for the message when nothing matches). */
function sharedPrefix(keys: string[]): string | undefined {
  const first = keys[0]?.split('.')[0];
  return first !== undefined && keys.length > 1 && keys.every((k) => k.startsWith(`${first}.`)) ? `${first}.` : undefined;
}

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
  /** The naming the file used (a key of NAMINGS[arch]; `grodd` for the identity). */
  naming: string;
  /** The wrapper prefix dropped from every key ('' for none). */
  prefix: string;
  /** The largest `num_batches_tracked` of the file (0 without one). */
  batchesTracked: number;
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

/** Maps the file's keys to grodd names (wrapper prefix and naming aliases); says which aliases were used. */
function canonicalNames(keys: string[], arch: string, want: Set<string>): { map: Map<string, string>; prefix: string; used: Set<string> } {
  const map = new Map<string, string>();
  const prefix = stripWrappers(keys);
  const aliases = [...new Map(Object.values(NAMINGS[arch] ?? {}).flat().map((a) => [a.join(), a])).values()];
  const used = new Set<string>();
  for (const k of keys) {
    let name = k.slice(prefix.length);
    const base = name.replace(/\.num_batches_tracked$/, '.running_var');
    if (!want.has(base)) {
      for (const [grodd, theirs] of aliases) {
        const alt = swap(name, theirs, grodd);
        if (alt !== name && want.has(alt.replace(/\.num_batches_tracked$/, '.running_var'))) {
          name = alt;
          used.add([grodd, theirs].join());
          break;
        }
      }
    }
    map.set(k, name);
  }
  return { map, prefix, used };
}

/** The naming whose aliases are exactly those used (else the smallest one holding them all). */
function namingOf(arch: string, used: Set<string>): string {
  const all = Object.entries(NAMINGS[arch] ?? { grodd: [] }).sort((a, b) => a[1].length - b[1].length);
  const holds = (aliases: Alias[]): boolean => [...used].every((u) => aliases.some((a) => a.join() === u));
  return (all.find(([, a]) => a.length === used.size && holds(a)) ?? all.find(([, a]) => holds(a)) ?? all[0])[0];
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
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [], renamed: [], naming: namingOf(model.arch, names.used), prefix: names.prefix, batchesTracked: 0 };
  for (const [fileKey, name] of names.map) {
    if (name.endsWith(NBT)) {
      const t = tensors[fileKey];
      if (t.data instanceof BigInt64Array && t.data.length === 1) report.batchesTracked = Math.max(report.batchesTracked, Number(t.data[0]));
      continue;
    }
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
  // Every key under one unknown prefix: a wrapper grodd does not know, the likeliest cause when nothing matches.
  const shared = report.loaded.length === 0 ? sharedPrefix(Object.keys(tensors).map((k) => k.slice(names.prefix.length))) : undefined;
  const wrapper = shared ? `; every key starts with "${names.prefix}${shared}": if that is a wrapper's prefix, save the state_dict without it ({k[${names.prefix.length + shared.length}:]: v for k, v in sd.items()}); grodd drops ${WRAPPERS.join(', ')} itself` : '';
  if (problems && strict && !wrapper) {
    throw new UserError(
      `${opts.source}: error(s) loading the state_dict into ${model.arch} (${model.numClasses} classes): ${describeReport(report)}` +
        `; use --non-strict to load the matching tensors anyway`,
    );
  }
  if (problems && !wrapper) opts.warn?.(`${opts.source}: loaded ${report.loaded.length} of ${want.size} tensors; ${describeReport(report)} (skipped: --non-strict)`);
  if (report.loaded.length === 0) throw new UserError(`${opts.source}: no tensor of the file matches the ${model.arch} model${wrapper || '; is --arch right?'}`);
  for (const [v, data] of updates) assignValues(v, data);
  return report;
}

/** How a state_dict is written: the key naming (a key of NAMINGS[arch]) and BN's step counter. */
export interface ExportOptions {
  naming?: string;
  batchesTracked?: number;
}

/** The model's weights and buffers as a PyTorch state_dict (names, layout, num_batches_tracked). */
export async function torchStateDict(model: Model, o: ExportOptions = {}): Promise<Record<string, WritableTensor>> {
  const naming = o.naming ?? 'grodd';
  const aliases = NAMINGS[model.arch]?.[naming] ?? (naming === 'grodd' ? [] : undefined);
  if (!aliases) throw new UserError(`--naming: ${model.arch} has no naming ${JSON.stringify(naming)} (expected one of ${namingsOf(model.arch).join(', ')})`);
  const rename = (n: string): string => aliases.reduce((m, [grodd, theirs]) => swap(m, grodd, theirs), n);
  const out: Record<string, WritableTensor> = {};
  for (const [name, v] of namedTensors(model)) {
    const data = (await v.data()) as Float32Array;
    out[rename(name)] = { dtype: 'F32', shape: torchShape(v.shape), data: toTorchLayout(data, v.shape) };
    if (name.endsWith('.running_var')) {
      out[rename(name.slice(0, -'.running_var'.length) + NBT)] = { dtype: 'I64', shape: [], data: BigInt64Array.from([BigInt(o.batchesTracked ?? 0)]) };
    }
  }
  return out;
}

const PICKLE_EXT = /\.(pt|pth|pkl|pickle|bin|ckpt|tar)$/i;

/** A file name for the converted weights that no existing file has. */
function conversionTarget(file: string): string {
  const stem = file.replace(/\.[^./\\]*$/, '');
  for (let i = 0; ; i++) {
    const out = `${stem}${i === 0 ? '' : i === 1 ? '.converted' : `.converted-${i}`}.safetensors`;
    if (out !== file && !fs.existsSync(out)) return out;
  }
}

/** The refusal of a pickled file, with the one line of Python that converts it (a training checkpoint's state_dict too). */
function pickleError(file: string, why: string): UserError {
  const out = conversionTarget(file);
  return new UserError(
    `${file}: ${why}; grodd reads .safetensors only (unpickling can run code). Convert it: python -c "import torch; from safetensors.torch import save_file; ` +
      `sd = torch.load('${file}', map_location='cpu'); sd = sd.get('state_dict', sd.get('model', sd)); save_file({k: v.contiguous() for k, v in sd.items()}, '${out}')"`,
  );
}

/** Refuses pickled PyTorch files by name with the line of Python that converts them. */
export function checkSafetensorsPath(file: string): void {
  if (PICKLE_EXT.test(file)) throw pickleError(file, 'a pickled PyTorch file (.pt/.pth/...)');
}

/** Whether the bytes start like a torch.save file: a zip archive (PyTorch >= 1.6) or a pickle stream. */
function isPickle(head: Buffer): boolean {
  return (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) || (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5);
}

/** Reads a PyTorch state_dict from a .safetensors file; a pickle, whatever its name, is recognised by its first bytes. */
export async function readTorchStateDict(file: string): Promise<Record<string, Tensor>> {
  checkSafetensorsPath(file);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UserError(`${file}: is a directory, expected a .safetensors file`);
  if (fs.existsSync(file)) {
    const fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(4);
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    if (isPickle(head)) throw pickleError(file, 'a PyTorch pickle (torch.save) file, despite its name');
  }
  return (await readSafetensors(file)).tensors;
}

/** Reads a PyTorch .safetensors state_dict into `model`. */
export async function importTorchWeights(
  file: string,
  model: Model,
  opts: { strict?: boolean; warn?: (msg: string) => void } = {},
): Promise<LoadReport> {
  return loadTorchStateDict(model, await readTorchStateDict(file), { ...opts, source: file });
}

/** Writes the model as a PyTorch .safetensors state_dict. */
export async function exportTorchWeights(model: Model, file: string, metadata: Record<string, string> = {}, o: ExportOptions = {}): Promise<number> {
  const sd = await torchStateDict(model, o);
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
  const prefix = stripWrappers(Object.keys(tensors));
  for (const key of Object.keys(tensors)) {
    const k = key.slice(prefix.length);
    if (heads.some((h) => k === `${h}.weight`) && tensors[key].shape.length === 2) return tensors[key].shape[0];
  }
  return undefined;
}
