import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHILD_ENV, grodd, Result, tempDir, tinyConfig } from './cli-helpers';

const tmp = tempDir('hostile');
const cfg = path.join(tmp, 'tiny.yaml');
fs.writeFileSync(cfg, tinyConfig({ name: 'tiny', epochs: 1 }));
const aFile = path.join(tmp, 'a-file');
fs.writeFileSync(aFile, 'x\n');

/** A user mistake: exit 2 and one line of message (besides the backend line, warnings and the data check), no stack trace. */
function oneLine(r: Result, re: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !/^(backend: |grodd: warning: |data checked: )/.test(l));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], re);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
}

test('run and output paths that are files, devices or not creatable: one line naming the path', () => {
  oneLine(grodd('train', '--config', cfg, '--runs', aFile), /a-file: cannot create this directory: .*a-file is a file/);
  oneLine(grodd('train', '--config', cfg, '--run-dir', aFile), /a-file exists and is not a directory; give --run-dir a directory path/);
  oneLine(grodd('train', '--config', cfg, '--runs', '/dev/null'), /\/dev\/null: cannot create this directory: \/dev\/null is not a directory/);
  oneLine(grodd('train', '--config', cfg, '--run-dir', '/dev/null'), /\/dev\/null exists and is not a directory/);
  oneLine(grodd('train', '--config', cfg, '--run-dir', path.join(aFile, 'run')), /a-file: cannot create this directory: .*a-file is a file/);
  if (fs.existsSync('/proc/self')) oneLine(grodd('train', '--config', cfg, '--runs', '/proc/self/grodd-runs'), /\/proc\/self\/grodd-runs: cannot create this directory: the file system does not allow it/);
  fs.writeFileSync(path.join(tmp, 'sw.yaml'), 'name: sw\nbase: tiny.yaml\n');
  oneLine(grodd('sweep', '--config', path.join(tmp, 'sw.yaml'), '--runs', aFile), /a-file\/sw\/trials: cannot create this directory: .*a-file is a file/);
});

test('score --out naming a directory is refused before any work; nothing is left behind', () => {
  const run = path.join(tmp, 'run');
  assert.equal(grodd('train', '--config', cfg, '--run-dir', run).code, 0);
  const out = path.join(tmp, 'outdir');
  fs.mkdirSync(out);
  oneLine(grodd('score', '--run', run, '--data', '{format: synthetic, size: 8}', '--out', out), /outdir: is a directory; give the path of a file to write \(e\.g\. .*outdir\/outdir\.csv\)/);
  assert.deepEqual(fs.readdirSync(out), []);
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp')), []);
});

test('config values that cannot work are explained: long names, huge synthetic sets, 1e309, .nan, binary files', () => {
  const variant = (name: string, from: string, to: string): string => {
    const f = path.join(tmp, `${name}.yaml`);
    fs.writeFileSync(f, tinyConfig({ name: 'v', epochs: 1 }).replace(from, to));
    return f;
  };
  const runs = path.join(tmp, 'runs');
  oneLine(grodd('train', '--config', variant('long', 'name: v', `name: ${'n'.repeat(300)}`), '--runs', runs), /long\.yaml: name: at most 200 characters .* got 300/);
  oneLine(grodd('train', '--config', variant('big', 'format: synthetic, size: 48', 'format: synthetic, size: 1e12'), '--runs', runs), /big\.yaml: data\.ood\[1\]\.size: 1000000000000 images of 28x28x1 are 7\.84e\+14 pixel values .*at most 268,435,456 values \(1 GiB\): lower size or shape/);
  oneLine(grodd('train', '--config', variant('wide', 'format: synthetic, size: 48', 'format: synthetic, size: 2, shape: [100000, 100000, 3]'), '--runs', runs), /wide\.yaml: data\.ood\[1\]\.shape: at most \[4096, 4096, 4\]/);
  oneLine(grodd('train', '--config', variant('inf', 'batch_size: 32', 'batch_size: 32\n  lr: 1e309'), '--runs', runs), /inf\.yaml: train\.lr: expected a number > 0, got Infinity \(a number beyond the float64 range, or \.inf\)/);
  oneLine(grodd('train', '--config', variant('nan', 'batch_size: 32', 'batch_size: 32\n  lr: .nan'), '--runs', runs), /nan\.yaml: train\.lr: expected a number > 0, got NaN \(\.nan\)/);
  const bin = path.join(tmp, 'weights.yaml');
  fs.writeFileSync(bin, Buffer.from(Array.from({ length: 400 }, (_, i) => (i * 7919) % 256)));
  const b = grodd('train', '--config', bin, '--runs', runs);
  oneLine(b, /weights\.yaml: not a YAML text file \(it holds binary data\); give the path of a \.yaml config/);
  assert.ok(b.stderr.length < 200, 'binary content is not echoed');
  assert.equal(fs.existsSync(runs), false, 'no run directory for a bad config');
});

const canMount = spawnSync('unshare', ['-rm', 'true']).status === 0;

test('a read-only file system (EROFS) is one line', { skip: !canMount && 'needs unshare -rm (a user namespace) for a read-only tmpfs' }, () => {
  const ro = path.join(tmp, 'ro');
  fs.mkdirSync(ro);
  const script = `mount -t tmpfs -o ro none ${ro} || exit 99
    node bin/grodd.js train --config ${cfg} --runs ${ro}/runs; node bin/grodd.js train --config ${cfg} --run-dir ${ro}`;
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', script], { env: CHILD_ENV, encoding: 'utf8' });
  assert.match(r.stderr, /grodd: .*ro\/runs: cannot write: read-only file system\n/);
  assert.match(r.stderr, /grodd: .*ro\/run\.lock: cannot write: read-only file system\n/);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
});

const root = process.getuid?.() === 0;
const canDrop = root && spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status === 0;

test('an unwritable directory (EACCES) is one line', { skip: !canDrop && root && 'as root, needs setpriv to run as nobody' }, () => {
  const locked = path.join(tmp, 'locked');
  fs.mkdirSync(locked, { mode: 0o555 });
  fs.chmodSync(locked, 0o555);
  fs.chmodSync(tmp, 0o755);
  fs.chmodSync(cfg, 0o644);
  const cmd = [process.execPath, 'bin/grodd.js', 'train', '--config', cfg, '--runs', path.join(locked, 'runs')];
  const r = root
    ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${tmp}`, ...cmd], { env: CHILD_ENV, encoding: 'utf8' })
    : spawnSync(cmd[0], cmd.slice(1), { env: CHILD_ENV, encoding: 'utf8' });
  oneLine({ code: r.status, stdout: r.stdout, stderr: r.stderr }, /locked\/runs: cannot write: permission denied/);
});
