import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireLock, lockRun, lockState, RUN_LOCK } from '../src/io/run-lock';
import { claimRunDir } from '../src/io/run-dir';
import { UserError } from '../src/util/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grodd-lock-'));

const holder = (pid: number, host = os.hostname()): string => `${JSON.stringify({ pid, host, started: '2026-01-02T03:04:05.000Z', command: 'grodd train --resume r' })}\n`;

test('a run lock holds pid and host, is refused to a second taker, and is released', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'run-'));
  const lock = lockRun(dir);
  const file = path.join(dir, RUN_LOCK);
  const h = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(h.pid, process.pid);
  assert.equal(h.host, os.hostname());
  assert.ok(!Number.isNaN(Date.parse(h.started)));
  assert.deepEqual(lockState(file), { state: 'held', holder: h });
  assert.throws(() => lockRun(dir), (e: Error) => e instanceof UserError && new RegExp(`run .* is locked by process ${process.pid} on host`).test(e.message));
  lock.release();
  assert.equal(fs.existsSync(file), false);
  assert.deepEqual(lockState(file), { state: 'free' });
  assert.deepEqual(fs.readdirSync(dir), [], 'no temporary file is left');
});

test('a lock of a dead process is stale and taken over with a warning; a live one or another host\'s is held', async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'stale-'));
  const file = path.join(dir, RUN_LOCK);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  fs.writeFileSync(file, holder(dead));
  assert.equal(lockState(file).state, 'stale');
  const warnings: string[] = [];
  acquireLock(file, 'the run', (m) => warnings.push(m)).release();
  assert.match(warnings[0], new RegExp(`removed a stale lock of process ${dead} on host .*grodd train --resume r`));

  // a live grodd process (its command line says grodd) holds it; a live process of another program does not
  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'grodd']);
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  try {
    await new Promise((res) => setTimeout(res, 200));
    fs.writeFileSync(file, holder(live.pid!));
    assert.equal(lockState(file).state, 'held');
    assert.throws(() => acquireLock(file, 'the run'), /the run is locked by process \d+ on host/);
    fs.writeFileSync(file, holder(other.pid!));
    assert.equal(lockState(file).state, 'stale', 'a reused pid of another program');
  } finally {
    live.kill();
    other.kill();
  }

  // another host cannot be checked from here: held, and the message says which file to delete
  fs.writeFileSync(file, holder(1, 'node-elsewhere'));
  assert.throws(() => acquireLock(file, 'the run'), (e: Error) => /on host node-elsewhere.*if it is gone, delete .*run\.lock/.test(e.message));
  // a garbled lock file (a disk error) is stale
  fs.writeFileSync(file, '\u0000\u0000');
  assert.equal(lockState(file).state, 'stale');
});

test('a run directory holding only a stale lock can be claimed for a new run', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'claim-'));
  fs.writeFileSync(path.join(dir, RUN_LOCK), holder(spawnSync(process.execPath, ['-e', '0']).pid!));
  assert.equal(claimRunDir(dir), dir);
  fs.writeFileSync(path.join(dir, 'config.yaml'), 'x');
  assert.throws(() => claimRunDir(dir), /already exists and is not empty/);
});
