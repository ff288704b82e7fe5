/**
 * An independent reader of TensorBoard event files for the tests: its own bitwise CRC-32C and a generic
 * protobuf decoder (any field, any wire type), sharing no code with src/io/tfevents.ts, so that a
 * writer bug cannot be mirrored by the reader.
 */
import * as fs from 'node:fs';

function crc32cBitwise(b: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const byte of b) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function masked(b: Uint8Array): number {
  const c = crc32cBitwise(b);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

type Field = { no: number; wire: number; int?: bigint; bytes?: Buffer; fixed?: Buffer };

function decode(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      if (b === undefined) throw new Error('truncated varint');
      v += BigInt(b & 127) << shift;
      if (!(b & 128)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) out.push({ no, wire, int: varint() });
    else if (wire === 1) (out.push({ no, wire, fixed: buf.subarray(i, i + 8) }), (i += 8));
    else if (wire === 5) (out.push({ no, wire, fixed: buf.subarray(i, i + 4) }), (i += 4));
    else if (wire === 2) {
      const n = Number(varint());
      out.push({ no, wire, bytes: buf.subarray(i, i + n) });
      i += n;
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}

export interface ParsedEvent {
  wallTime: number;
  step?: number;
  fileVersion?: string;
  scalars: Map<string, number>;
}

/** Every event of a file; throws on a bad length, a bad checksum or trailing bytes. */
export function parseEventFile(file: string): ParsedEvent[] {
  const buf = fs.readFileSync(file);
  const events: ParsedEvent[] = [];
  let i = 0;
  while (i < buf.length) {
    const lenBytes = buf.subarray(i, i + 8);
    if (buf.readUInt32LE(i + 8) !== masked(lenBytes)) throw new Error(`bad length crc at byte ${i}`);
    const n = Number(buf.readBigUInt64LE(i));
    const data = buf.subarray(i + 12, i + 12 + n);
    if (data.length !== n) throw new Error(`truncated record at byte ${i}`);
    if (buf.readUInt32LE(i + 12 + n) !== masked(data)) throw new Error(`bad data crc at byte ${i}`);
    i += 16 + n;
    const e: ParsedEvent = { wallTime: NaN, scalars: new Map() };
    for (const f of decode(data)) {
      if (f.no === 1 && f.wire === 1) e.wallTime = f.fixed!.readDoubleLE(0);
      else if (f.no === 2 && f.wire === 0) e.step = Number(f.int);
      else if (f.no === 3 && f.wire === 2) e.fileVersion = f.bytes!.toString('utf8');
      else if (f.no === 5 && f.wire === 2) {
        for (const v of decode(f.bytes!)) {
          if (v.no !== 1) continue;
          const val = decode(v.bytes!);
          const tag = val.find((x) => x.no === 1)!.bytes!.toString('utf8');
          e.scalars.set(tag, val.find((x) => x.no === 2 && x.wire === 5)!.fixed!.readFloatLE(0));
        }
      } else throw new Error(`unexpected field ${f.no} (wire ${f.wire})`);
    }
    events.push(e);
  }
  return events;
}
