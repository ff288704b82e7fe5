/**
 * native/build.js never fails an install: without what it needs it prints one
 * line saying what is missing and how to get it, and exits 0 (grodd then runs
 * on wasm). These runs stop before compiling, so the built addon is untouched.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

const BUILD = path.join(__dirname, '..', 'native', 'build.js');

function build(env: Record<string, string>): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BUILD], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('no C++ compiler: one line naming it and the command to rerun, exit 0', () => {
  const r = build({ CXX: '/nonexistent/c++', LIBTORCH: '' });
  assert.equal(r.code, 0);
  const lines = r.out.trim().split('\n');
  const last = lines[lines.length - 1];
  if (/no libtorch found/.test(last)) {
    // This machine has no libtorch at all: that line comes first, also in one line.
    assert.match(last, /^grodd: native backend not built: no libtorch found; grodd runs on wasm\. .*apt-get install libtorch-dev.*npm run build:native$/);
  } else {
    assert.match(last, /^grodd: native backend not built: no C\+\+ compiler \(set CXX, or apt-get install g\+\+\), then npm run build:native$/);
  }
});

test('a LIBTORCH without libtorch in it is reported, and the search goes on', () => {
  const r = build({ LIBTORCH: '/nonexistent-libtorch', CXX: '/nonexistent/c++' });
  assert.equal(r.code, 0);
  assert.match(r.out, /^grodd: LIBTORCH=\/nonexistent-libtorch has no include\/ATen\/ATen\.h and lib\/libtorch_cpu\.so; looking elsewhere$/m);
});

test('GRODD_SKIP_NATIVE=1 skips the build with a line saying so', () => {
  const r = build({ GRODD_SKIP_NATIVE: '1' });
  assert.equal(r.code, 0);
  assert.equal(r.out.trim(), 'grodd: native backend build skipped (GRODD_SKIP_NATIVE=1); grodd runs on wasm');
});
