import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHILD_ENV, grodd, tempDir, tinyConfig } from './cli-helpers';
import { TEST_BACKEND } from './test-backend';

const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string };

test('--version and -V print the package version', () => {
  for (const flag of ['--version', '-V']) {
    const r = grodd(flag);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), pkg.version);
  }
});

test('--help lists every command without loading any command module (TensorFlow.js, sharp)', () => {
  // Which modules the CLI loaded, printed as it exits.
  const probe = `process.argv = [process.argv[0], 'grodd', '--help'];
process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));
require('./src/cli/main.ts');`;
  const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', probe], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const c of ['train', 'eval', 'metrics', 'datasets', 'import', 'export', 'models', 'score', 'sweep', 'report', 'bench']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'), c);
  const loaded = JSON.parse(/LOADED (.*)/.exec(r.stderr)![1]) as string[];
  assert.ok(loaded.some((f) => f.includes('commander')), 'the probe sees the modules main.ts loads');
  for (const heavy of ['@tensorflow', 'sharp', `${'src'}/cli/train`, 'yaml']) assert.ok(!loaded.some((f) => f.includes(heavy)), `${heavy} was loaded for --help`);
});

test("a command's own help has its options; `grodd help X` is the same; an unknown command suggests the nearest", () => {
  const own = grodd('eval', '--help');
  assert.equal(own.code, 0, own.stderr);
  assert.match(own.stdout, /--run <dir>/);
  assert.equal(grodd('help', 'eval').stdout, own.stdout);
  const bad = grodd('trian');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command 'trian'[\s\S]*Did you mean train\?/);
});

test('the compiled CLI that npm install builds trains and evaluates without tsx', () => {
  // `npm run build` is what `npm install` runs (prepare); the tests otherwise run the sources.
  const build = spawnSync('npm', ['run', 'build'], { encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const dir = tempDir('dist');
  const cfg = path.join(dir, 'tiny.yaml');
  fs.writeFileSync(cfg, tinyConfig({ name: 'dist', epochs: 1, train: '  margins: { mode: fixed, m_in: -5, m_out: -3 }' }).replace('  margins: { mode: percentile, warmup_epochs: 1 }\n', ''));
  const env = { ...CHILD_ENV, GRODD_FROM_SOURCE: '0', GRODD_BACKEND: TEST_BACKEND, NODE_OPTIONS: '' };
  const r = spawnSync(process.execPath, ['dist/cli/main.js', 'train', '--config', cfg, '--run-dir', path.join(dir, 'run')], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr + r.stdout, new RegExp(`backend: ${TEST_BACKEND} `));
  assert.ok(fs.existsSync(path.join(dir, 'run', 'metrics.csv')), 'metrics.csv written');
  const loaded = spawnSync(process.execPath, ['-e', "require('./dist/engine/backend'); process.stdout.write(Object.keys(require.cache).filter((f) => f.includes('tsx')).join(','))"], { encoding: 'utf8', env });
  assert.equal(loaded.stdout, '', 'no tsx module is loaded by the compiled code');
});
