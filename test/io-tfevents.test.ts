import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32c, EventWriter, readRecords } from '../src/io/tfevents';
import { tempDir } from './cli-helpers';
import { parseEventFile } from './tfevents-reader';

test('crc32c matches the published check values (RFC 3720 B.4 and the CRC catalogue)', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
});

test('an event file read back by an independent parser: file version first, then the scalars at their steps', () => {
  const dir = tempDir('tfevents');
  const w = new EventWriter(dir);
  w.scalars(1, { 'train/loss': 1.5, 'train/lr': 0.05, skipped: NaN, none: null });
  w.scalars(2, { 'train/loss': 1.25, 'train/lr': 0.049 });
  w.scalars(3, { only: undefined }); // nothing finite: no event
  w.scalars(10_000_000_000, { big: -3 }); // a step past 2^32
  w.close();
  assert.match(path.basename(w.file), /^events\.out\.tfevents\.\d{10}\..+\.\d+$/);
  const events = parseEventFile(w.file);
  assert.equal(events.length, 4);
  assert.equal(events[0].fileVersion, 'brain.Event:2');
  assert.ok(Math.abs(events[0].wallTime - Date.now() / 1000) < 60);
  assert.deepEqual(events.slice(1).map((e) => e.step), [1, 2, 10_000_000_000]);
  assert.deepEqual([...events[1].scalars], [['train/loss', 1.5], ['train/lr', Math.fround(0.05)]]);
  assert.deepEqual([...events[3].scalars], [['big', -3]]);
});

test('a resumed writer keeps the events up to its checkpoint step and continues the same file', () => {
  const dir = tempDir('tfevents-resume');
  const w = new EventWriter(dir);
  for (let s = 1; s <= 10; s++) w.scalars(s, { x: s });
  w.close();
  const r = new EventWriter(dir, 6);
  assert.equal(r.file, w.file);
  r.scalars(7, { x: 70 });
  r.close();
  const events = parseEventFile(w.file);
  assert.deepEqual(events.map((e) => e.step), [undefined, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(events.at(-1)!.scalars.get('x'), 70);
  assert.equal(fs.readdirSync(dir).length, 1, 'no temporary file left');
});

test('readRecords stops before a torn last record (a killed run) and a resumed writer drops it', () => {
  const dir = tempDir('tfevents-torn');
  const w = new EventWriter(dir);
  w.scalars(1, { x: 1 });
  w.scalars(2, { x: 2 });
  w.close();
  const whole = fs.readFileSync(w.file);
  fs.writeFileSync(w.file, whole.subarray(0, whole.length - 5));
  assert.deepEqual(readRecords(fs.readFileSync(w.file)).map((r) => r.step), [undefined, 1]);
  new EventWriter(dir, 5).close();
  assert.deepEqual(parseEventFile(w.file).map((e) => e.step), [undefined, 1]);
});
