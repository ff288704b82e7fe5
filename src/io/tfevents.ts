import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * TensorBoard event files (`events.out.tfevents.*`), written without TensorFlow: the TFRecord framing
 * (uint64 length, masked CRC-32C of the length, the data, masked CRC-32C of the data; little-endian)
 * around `Event` protocol buffers encoded by hand. Only the fields grodd writes are encoded:
 *   Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
 * `tensorboard --logdir runs/` shows the scalars; no npm package writes this format without the
 * native TensorFlow library.
 */

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), the checksum of TFRecord files. */
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC32C_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The masked CRC that TFRecord stores: rotated right by 15 bits plus a constant. */
export function maskedCrc32c(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: the framing around `data`. */
export function tfRecord(data: Uint8Array): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(data.length), 0);
  head.writeUInt32LE(maskedCrc32c(head.subarray(0, 8)), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc32c(data), 0);
  return Buffer.concat([head, data, tail]);
}

function varint(n: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

const key = (field: number, wire: number): Buffer => varint((field << 3) | wire);
const lengthDelimited = (field: number, bytes: Uint8Array): Buffer => Buffer.concat([key(field, 2), varint(bytes.length), bytes]);

/** What one event holds: a file version, or scalars at a step. */
export interface EventContent {
  wallTime: number;
  step?: number;
  fileVersion?: string;
  scalars?: [tag: string, value: number][];
}

/** The `Event` message of `e`, protobuf-encoded. */
export function encodeEvent(e: EventContent): Buffer {
  const parts: Buffer[] = [];
  const wall = Buffer.alloc(8);
  wall.writeDoubleLE(e.wallTime, 0);
  parts.push(key(1, 1), wall);
  if (e.step !== undefined) parts.push(key(2, 0), varint(e.step));
  if (e.fileVersion !== undefined) parts.push(lengthDelimited(3, Buffer.from(e.fileVersion, 'utf8')));
  if (e.scalars?.length) {
    const values = e.scalars.map(([tag, v]) => {
      const f = Buffer.alloc(4);
      f.writeFloatLE(v, 0);
      return lengthDelimited(1, Buffer.concat([lengthDelimited(1, Buffer.from(tag, 'utf8')), key(2, 5), f]));
    });
    parts.push(lengthDelimited(5, Buffer.concat(values)));
  }
  return Buffer.concat(parts);
}

/** The step of an encoded Event (field 2), or undefined when it has none. Reads only what encodeEvent writes. */
function eventStep(msg: Buffer): number | undefined {
  let i = 0;
  const readVarint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = msg[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
  };
  while (i < msg.length) {
    const k = Number(readVarint());
    const wire = k & 7;
    if (k >>> 3 === 2 && wire === 0) return Number(BigInt.asIntN(64, readVarint()));
    if (wire === 0) readVarint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const n = Number(readVarint()); // (not `i += readVarint()`, which would add to i's value before the read)
      i += n;
    } else return undefined;
  }
  return undefined;
}

/**
 * The records of an event file up to its first torn or corrupt one (a crash can cut the last write
 * short), each with the step of its event.
 */
export function readRecords(buf: Buffer): { data: Buffer; step?: number }[] {
  const out: { data: Buffer; step?: number }[] = [];
  let i = 0;
  while (i + 12 <= buf.length) {
    const len = Number(buf.readBigUInt64LE(i));
    if (buf.readUInt32LE(i + 8) !== maskedCrc32c(buf.subarray(i, i + 8)) || i + 12 + len + 4 > buf.length) break;
    const data = buf.subarray(i + 12, i + 12 + len);
    if (buf.readUInt32LE(i + 12 + len) !== maskedCrc32c(data)) break;
    out.push({ data, step: eventStep(data) });
    i += 16 + len;
  }
  return out;
}

/**
 * Appends events to one event file of `dir`. Each write goes straight to the file (a killed run keeps
 * what it logged); `keepUpTo` continues the directory's existing event file, keeping only its events up
 * to that step (a resumed run retrains the steps after its checkpoint).
 */
export class EventWriter {
  private readonly fd: number;
  readonly file: string;

  constructor(dir: string, keepUpTo?: number) {
    const existing = keepUpTo === undefined ? undefined : fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.')).sort().pop();
    if (existing) {
      this.file = path.join(dir, existing);
      const kept = readRecords(fs.readFileSync(this.file)).filter((r) => r.step === undefined || r.step <= keepUpTo!);
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, Buffer.concat(kept.map((r) => tfRecord(r.data))));
      fs.renameSync(tmp, this.file);
      this.fd = fs.openSync(this.file, 'a');
    } else {
      const now = Date.now() / 1000;
      this.file = path.join(dir, `events.out.tfevents.${Math.floor(now)}.${os.hostname()}.${process.pid}`);
      this.fd = fs.openSync(this.file, 'a');
      this.write({ wallTime: now, fileVersion: 'brain.Event:2' });
    }
  }

  private write(e: EventContent): void {
    fs.writeSync(this.fd, tfRecord(encodeEvent(e)));
  }

  /** Scalars at `step` (NaN and infinite values are left out: TensorBoard cannot draw them). */
  scalars(step: number, values: Record<string, number | null | undefined>): void {
    const s = Object.entries(values).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]));
    if (s.length) this.write({ wallTime: Date.now() / 1000, step, scalars: s });
  }

  /** Makes what was written durable. */
  sync(): void {
    fs.fsyncSync(this.fd);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
