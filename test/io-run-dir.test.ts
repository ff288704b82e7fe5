import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkRunDir, createRunDir, readStatus, writeStatus } from '../src/io/run-dir';
import { UserError } from '../src/util/errors';

test('runs started in the same second get distinct directories', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'grodd-runs-'));
  const now = new Date(2026, 10, 27, 9, 5, 3);
  const a = createRunDir(root, 'q', now);
  const b = createRunDir(root, 'q', now);
  assert.equal(path.basename(a), 'q-20261127-090503');
  assert.equal(path.basename(b), 'q-20261127-090503-2');
});

test('status file round trip, and run-directory checks name the problem', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grodd-run-'));
  assert.equal(readStatus(dir), 'unknown');
  await writeStatus(dir, 'failed: loss became NaN');
  assert.equal(readStatus(dir), 'failed: loss became NaN');
  assert.throws(() => checkRunDir(dir), (e: Error) => e instanceof UserError && /no config\.yaml/.test(e.message));
  assert.throws(() => checkRunDir(path.join(dir, 'nope')), /run directory not found/);
});
