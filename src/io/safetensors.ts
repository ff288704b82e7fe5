import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import { endianness } from 'os';
import { UserError } from '../util/errors';
import { writeFileAtomic } from './atomic-write';

/**
 * The safetensors format (https://github.com/huggingface/safetensors), laid out as
 *   [8-byte little-endian u64 N][N bytes of UTF-8 JSON header][data section]
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (byte offsets into the
 * data section) plus an optional "__metadata__" map of strings to strings. Data is raw little-endian
 * and row-major. The tensors' byte ranges must tile the data section exactly: no gap, no overlap, no
 * trailing bytes. Writers pad the header with spaces so that the data section starts at a multiple
 * of 8 bytes.
 */

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
/** Half-precision types are read (widened to float32) but not written: no JS array holds them exactly. */
export type WritableDtype = Exclude<Dtype, 'F16' | 'BF16'>;
export type TensorData = Float64Array | Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** A decoded tensor: `dtype` is the file's; F16 and BF16 arrive as Float32Array, BOOL as a Uint8Array of 0/1. */
export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface WritableTensor {
  dtype: WritableDtype;
  shape: number[];
  data: TensorData;
}

export interface Safetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

interface DtypeSpec {
  /** Bytes per element in the file. */
  size: number;
  /** The typed array that holds the decoded values (and that a writer must pass). */
  array: { new (length: number): TensorData; readonly name: string };
  /** Values from little-endian bytes, already copied into an aligned buffer of their own. */
  decode(bytes: Uint8Array): TensorData;
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Reinterprets aligned little-endian bytes as `size`-byte host-order elements, swapping on big-endian hosts. */
function hostOrder(bytes: Uint8Array, size: number): ArrayBuffer {
  if (!LITTLE_ENDIAN_HOST && size > 1) {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (size === 2) b.swap16();
    else if (size === 4) b.swap32();
    else b.swap64();
  }
  return bytes.buffer as ArrayBuffer;
}

let halfTable: Float32Array | undefined;
/** All 65536 IEEE binary16 values as float32: (−1)^s · 2^(e−15) · (1 + f/1024), subnormals 2^−14 · f/1024. */
function halfToFloatTable(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const frac = h & 0x3ff;
      halfTable[h] =
        exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
    }
  }
  return halfTable;
}

const DTYPES: Record<Dtype, DtypeSpec> = {
  F64: { size: 8, array: Float64Array, decode: (b) => new Float64Array(hostOrder(b, 8)) },
  F32: { size: 4, array: Float32Array, decode: (b) => new Float32Array(hostOrder(b, 4)) },
  F16: {
    size: 2,
    array: Float32Array,
    decode: (b) => {
      const table = halfToFloatTable();
      return Float32Array.from(new Uint16Array(hostOrder(b, 2)), (h) => table[h]);
    },
  },
  BF16: {
    size: 2,
    array: Float32Array,
    decode: (b) => {
      // bfloat16 is the top half of a float32: shift the bits up, leave the low mantissa zero.
      const out = new Float32Array(b.byteLength / 2);
      const bits = new Uint32Array(out.buffer);
      const half = new Uint16Array(hostOrder(b, 2));
      for (let i = 0; i < half.length; i++) bits[i] = half[i] << 16;
      return out;
    },
  },
  I64: { size: 8, array: BigInt64Array, decode: (b) => new BigInt64Array(hostOrder(b, 8)) },
  I32: { size: 4, array: Int32Array, decode: (b) => new Int32Array(hostOrder(b, 4)) },
  I16: { size: 2, array: Int16Array, decode: (b) => new Int16Array(hostOrder(b, 2)) },
  I8: { size: 1, array: Int8Array, decode: (b) => new Int8Array(b.buffer) },
  U8: { size: 1, array: Uint8Array, decode: (b) => new Uint8Array(b.buffer) },
  BOOL: { size: 1, array: Uint8Array, decode: (b) => new Uint8Array(b.buffer) },
};

const isDtype = (d: unknown): d is Dtype => typeof d === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, d);

/** The reference implementation refuses larger headers; a bigger length means this is not a safetensors file. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

/** Tensor names in UTF-8 byte order, the order of the reference writer (same as code-unit order for ASCII). */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const describeShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** Number of elements, checking that `shape` is a list of non-negative integers; `where` prefixes errors. */
function elementCount(shape: unknown, where: string): number {
  if (!Array.isArray(shape)) throw new UserError(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || (d as number) < 0) {
      throw new UserError(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    n *= d as number;
  }
  return n;
}

function checkBool(data: Uint8Array, where: string): void {
  const bad = data.findIndex((v) => v > 1);
  if (bad >= 0) throw new UserError(`${where}: BOOL element ${bad} is ${data[bad]}, not 0 or 1`);
}

/** Little-endian bytes of a typed array (a view on little-endian hosts, a swapped copy otherwise). */
function littleEndianBytes(data: TensorData, size: number): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return LITTLE_ENDIAN_HOST ? view : new Uint8Array(hostOrder(view.slice(), size));
}

/**
 * Serializes tensors (names in sorted order, data in that same order) and optional string metadata.
 * `source` names the destination in error messages.
 */
export function encodeSafetensors(
  tensors: Record<string, WritableTensor>,
  metadata?: Record<string, string>,
  source = 'safetensors',
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new UserError(`${source}: metadata "${k}" must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  const names = Object.keys(tensors).sort(byteOrder);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const where = `${source}: tensor "${name}"`;
    if (name === METADATA_KEY) throw new UserError(`${where}: the name is reserved for metadata`);
    const { shape, data } = tensors[name];
    const dtype: string = tensors[name].dtype; // checked at run time too: callers may pass a dtype read from a file
    if (!isDtype(dtype) || dtype === 'F16' || dtype === 'BF16') {
      throw new UserError(`${where}: cannot write dtype ${JSON.stringify(dtype)} (writable: F64, F32, I64, I32, I16, I8, U8, BOOL)`);
    }
    const spec = DTYPES[dtype];
    if (!(data instanceof spec.array)) {
      const got = (data as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof data;
      throw new UserError(`${where}: dtype ${dtype} needs a ${spec.array.name}, got ${got}`);
    }
    const count = elementCount(shape, where);
    if (count !== data.length) {
      throw new UserError(`${where}: shape ${describeShape(shape)} has ${count} elements but the data has ${data.length}`);
    }
    if (dtype === 'BOOL') checkBool(data as Uint8Array, where);
    const bytes = littleEndianBytes(data, spec.size);
    header[name] = { dtype, shape: [...shape], data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const json = JSON.stringify(header);
  const jsonLength = Buffer.byteLength(json, 'utf8');
  const padded = jsonLength + ((8 - (jsonLength % 8)) % 8);
  const out = Buffer.alloc(8 + padded + offset, 0x20); // 0x20: the header is padded with spaces
  out.writeBigUInt64LE(BigInt(padded), 0);
  out.write(json, 8, 'utf8');
  let at = 8 + padded;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and validates one header entry (everything that can be checked without the other entries). */
function parseEntry(name: string, info: unknown, dataLength: number, source: string): Entry {
  const where = `${source}: tensor "${name}"`;
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    throw new UserError(`${where}: header entry must be an object with dtype, shape and data_offsets`);
  }
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (!isDtype(dtype)) {
    throw new UserError(`${where}: unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`);
  }
  const count = elementCount(shape, where);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw new UserError(`${where}: data_offsets must be two non-negative integers [begin, end], got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new UserError(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) {
    throw new UserError(
      `${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataLength} bytes); is the file truncated?`,
    );
  }
  const expected = count * DTYPES[dtype].size;
  if (end - begin !== expected) {
    throw new UserError(
      `${where}: shape ${describeShape(shape as number[])} of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] cover ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Parses a safetensors buffer, validating the whole layout first; `source` (the file) prefixes every error. */
export function decodeSafetensors(buf: Uint8Array, source = 'safetensors'): Safetensors {
  if (buf.byteLength < 8) {
    throw new UserError(`${source}: file is truncated: ${buf.byteLength} bytes, less than the 8-byte header length`);
  }
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLength = b.readBigUInt64LE(0);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new UserError(`${source}: header length ${headerLength} is over ${MAX_HEADER_BYTES} bytes; not a safetensors file?`);
  }
  const n = Number(headerLength);
  if (8 + n > b.byteLength) {
    throw new UserError(`${source}: file is truncated: the header needs ${n} bytes but only ${b.byteLength - 8} follow its length`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(8, 8 + n));
  } catch {
    throw new UserError(`${source}: header is not valid UTF-8; not a safetensors file?`);
  }
  if (!text.startsWith('{')) throw new UserError(`${source}: header does not start with "{"; not a safetensors file?`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${source}: header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new UserError(`${source}: header must be a JSON object`);
  }

  const metadata: Record<string, string> = {};
  const data = b.subarray(8 + n);
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) {
        throw new UserError(`${source}: ${METADATA_KEY} must be an object of strings`);
      }
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw new UserError(`${source}: ${METADATA_KEY} "${k}" must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
    } else {
      entries.push(parseEntry(name, info, data.byteLength, source));
    }
  }

  // The ranges must tile [0, data length): sort by position (the JSON order means nothing), then walk.
  entries.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of entries) {
    if (e.begin < covered) {
      throw new UserError(
        `${source}: tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap tensor "${previous!.name}" [${previous!.begin}, ${previous!.end}]`,
      );
    }
    if (e.begin > covered) {
      throw new UserError(`${source}: data bytes ${covered}..${e.begin} before tensor "${e.name}" belong to no tensor`);
    }
    covered = e.end;
    previous = e;
  }
  if (covered !== data.byteLength) {
    throw new UserError(`${source}: ${data.byteLength - covered} bytes after the last tensor belong to no tensor`);
  }

  const tensors: Record<string, Tensor> = {};
  for (const e of [...entries].sort((x, y) => byteOrder(x.name, y.name))) {
    // A copy: aligned for the typed array, and independent of the (possibly large) file buffer.
    const bytes = new Uint8Array(data.subarray(e.begin, e.end));
    const values = DTYPES[e.dtype].decode(bytes);
    if (e.dtype === 'BOOL') checkBool(values as Uint8Array, `${source}: tensor "${e.name}"`);
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data: values };
  }
  return { tensors, metadata };
}

/** The hex SHA-256 of some bytes (checkpoint sidecars record it for each file). */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Reads and validates a .safetensors file; errors name the file. With `expectSha256`, a file whose
 * bytes do not hash to it (truncated, or changed on disk) is refused before it is decoded.
 */
export async function readSafetensors(file: string, expectSha256?: string): Promise<Safetensors> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${file}: file not found`);
    if (code === 'EISDIR') throw new UserError(`${file}: is a directory, expected a .safetensors file`);
    if (code === 'EACCES') throw new UserError(`${file}: permission denied`);
    throw e;
  }
  if (expectSha256 !== undefined && sha256(buf) !== expectSha256) {
    throw new UserError(`${file}: corrupt or truncated (${buf.length} bytes whose sha256 differs from the one its checkpoint sidecar recorded)`);
  }
  return decodeSafetensors(buf, file);
}

/** Writes a .safetensors file atomically (temporary file in the same directory, fsync, rename); returns its sha256. */
export async function writeSafetensors(
  file: string,
  tensors: Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): Promise<string> {
  const bytes = encodeSafetensors(tensors, metadata, file);
  await writeFileAtomic(file, bytes);
  return sha256(bytes);
}
