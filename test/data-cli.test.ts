import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';
import sharp from 'sharp';
import { inspectConfig } from '../src/cli/datasets';
import { fetchPreset, listPresets, parsePreset } from '../src/data/fetch';
import { extractTar } from '../src/data/tar';
import { UserError } from '../src/util/errors';
import { int64Bytes, pixelsNHWC, tarGz, tempDir, writeNpy } from './data-writers';

const dir = tempDir('cli');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const repo = path.resolve(__dirname, '..');

/** Runs `grodd datasets ...` through commander with only this module registered. */
/** Async, so that the test's own HTTP server keeps serving while the child runs. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const code = `const {Command}=require('commander');const {registerDatasets}=require(${JSON.stringify(path.join(repo, 'src/cli/datasets.ts'))});` +
    `const p=new Command('grodd').exitOverride((e)=>process.exit(e.exitCode===0?0:2));registerDatasets(p);p.parseAsync(${JSON.stringify(args)},{from:'user'});`;
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', code], { cwd: repo, timeout: 30_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

const rejectsUser = (p: Promise<unknown>, re: RegExp) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  });

test("the repository's presets parse and name a checksum or say there is none", async () => {
  const presets = listPresets(path.join(repo, 'datasets'));
  const names = presets.map((p) => p.name);
  for (const n of ['cifar10', 'cifar100', 'svhn', 'textures', 'tiny-images-300k', 'lsun-crop', 'lsun-resize', 'isun', 'places365']) assert.ok(names.includes(n), n);
  const c10 = presets.find((p) => p.name === 'cifar10')!;
  assert.equal(c10.md5, 'c32a1d4ab5d03f1284b67883e8d87530');
  assert.equal(c10.unpack, 'tar.gz');
  const r = await cli(['datasets', 'list']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /cifar10 +not fetched|cifar10 +fetched|cifar10 +present/);
  assert.match(r.stdout, /from https:\/\/www\.cs\.toronto\.edu\/~kriz\/cifar-10-binary\.tar\.gz {2}md5 c32a1d4a/);
});

test('fetch: download over HTTP (with a redirect), verify sha256, unpack .tar.gz; mismatch; offline; 404', async () => {
  const payload = Buffer.from('hello grodd\n');
  const big = crypto.randomBytes(70_000);
  const archive = tarGz([
    ['toy/', null],
    ['toy/a.txt', payload],
    ['toy/sub/big.bin', big],
  ]);
  const sha = crypto.createHash('sha256').update(archive).digest('hex');
  const md5 = crypto.createHash('md5').update(archive).digest('hex');
  const server = http.createServer((req, res) => {
    if (req.url === '/toy.tar.gz') {
      res.writeHead(200, { 'content-length': archive.length });
      res.end(archive);
    } else if (req.url === '/moved') {
      res.writeHead(302, { location: '/toy.tar.gz' });
      res.end();
    } else if (req.url === '/evil.tar.gz') {
      res.end(tarGz([['../escape.txt', payload]]));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const presets = path.join(dir, 'presets');
    fs.mkdirSync(presets);
    fs.writeFileSync(path.join(presets, 'toy.yaml'), `name: toy\ndescription: a test archive\nurl: ${base}/moved\narchive: toy.tar.gz\nsha256: ${sha}\nmd5: ${md5}\nunpack: tar.gz\ndest: toy\n`);
    const root = path.join(dir, 'root');
    const p = parsePreset(path.join(presets, 'toy.yaml'));
    const res = await fetchPreset(p, { root });
    assert.equal(res.downloaded, true);
    assert.equal(res.bytes, archive.length);
    assert.deepEqual(fs.readFileSync(path.join(root, 'toy', 'toy', 'a.txt')), payload);
    assert.deepEqual(fs.readFileSync(path.join(root, 'toy', 'toy', 'sub', 'big.bin')), big);
    assert.equal(res.unpacked?.files, 2);
    assert.ok(!fs.existsSync(path.join(root, '.downloads', 'toy.tar.gz')), 'archive removed after unpacking');
    assert.equal((await fetchPreset(p, { root })).downloaded, false, 'second fetch is a no-op');

    // through the CLI, with --url
    const cliRoot = path.join(dir, 'cliroot');
    const ok = await cli(['datasets', 'fetch', 'toy', '--presets', presets, '--root', cliRoot, '--url', `${base}/toy.tar.gz`]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(fs.existsSync(path.join(cliRoot, 'toy', 'toy', 'a.txt')));
    const listed = await cli(['datasets', 'list', '--presets', presets, '--root', cliRoot]);
    assert.match(listed.stdout, /toy +fetched/);

    // checksum mismatch: the download is deleted, a UserError explains
    const bad = { ...p, sha256: '0'.repeat(64) };
    await rejectsUser(fetchPreset(bad, { root: path.join(dir, 'r2') }), /moved: checksum mismatch: the download .*toy\.tar\.gz \(\d+ bytes\) has sha256 [0-9a-f]{64}, expected 0{64}/);
    assert.ok(!fs.existsSync(path.join(dir, 'r2', '.downloads', 'toy.tar.gz')));
    await rejectsUser(fetchPreset(p, { root: path.join(dir, 'r3'), url: `${base}/nothing-here` }), /HTTP 404.*Download it by hand from/);
    await rejectsUser(fetchPreset({ ...p, sha256: undefined, md5: undefined }, { root: path.join(dir, 'r4'), url: `${base}/evil.tar.gz` }), /refusing to unpack entry "\.\.\/escape\.txt"/);
    assert.ok(!fs.existsSync(path.join(dir, 'r4', 'escape.txt')));
  } finally {
    await new Promise((r) => server.close(r));
  }

  // connection refused (offline): a port nobody listens on
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const dead = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const p = parsePreset(path.join(dir, 'presets', 'toy.yaml'));
  await rejectsUser(fetchPreset(p, { root: path.join(dir, 'r5'), url: `http://127.0.0.1:${dead}/toy.tar.gz` }), /cannot download .*ECONNREFUSED \(no network access\? this machine may be offline\)\. Download it by hand from/);
  const r = await cli(['datasets', 'fetch', 'toy', '--presets', path.join(dir, 'presets'), '--root', path.join(dir, 'r6'), '--url', `http://127.0.0.1:${dead}/x`]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^grodd: cannot download .*ECONNREFUSED/m);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  const unknown = await cli(['datasets', 'fetch', 'nope', '--presets', path.join(dir, 'presets')]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /no dataset preset "nope" .*known: toy/);
});

test('tar: truncated and corrupted archives are UserErrors naming the file', async () => {
  const good = tarGz([['x/a.bin', crypto.randomBytes(5000)]]);
  const zlib = await import('zlib');
  const raw = zlib.gunzipSync(good);
  const trunc = path.join(dir, 'trunc.tar');
  fs.writeFileSync(trunc, raw.subarray(0, 2000));
  await rejectsUser(extractTar(trunc, path.join(dir, 'tx1')), /trunc\.tar: archive is truncated/);
  const bad = Buffer.from(raw);
  bad[10] ^= 0xff;
  const corrupt = path.join(dir, 'corrupt.tar');
  fs.writeFileSync(corrupt, bad);
  await rejectsUser(extractTar(corrupt, path.join(dir, 'tx2')), /corrupt\.tar: corrupted tar header at byte 0/);
  const gz = path.join(dir, 'cut.tar.gz');
  fs.writeFileSync(gz, good.subarray(0, good.length - 20));
  await rejectsUser(extractTar(gz, path.join(dir, 'tx3')), /cut\.tar\.gz: (cannot unpack|archive is truncated)/);
});

test('inspect: sizes, shapes, class counts, channel stats, contact sheets', async () => {
  const img = path.join(dir, 'id.npy');
  writeNpy(img, '|u1', [30, 8, 8, 3], Buffer.from(pixelsNHWC(30, 8, 8, 3)));
  const lab = path.join(dir, 'id-labels.npy');
  writeNpy(lab, '<i8', [30], int64Bytes(Array.from({ length: 30 }, (_, i) => i % 3)));
  const folder = path.join(dir, 'ood-folder');
  fs.mkdirSync(folder);
  for (let i = 0; i < 3; i++) await sharp({ create: { width: 10, height: 10, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toFile(path.join(folder, `${i}.png`));
  const cfg = path.join(dir, 'tiny.yaml');
  fs.writeFileSync(
    cfg,
    `# a tiny config
name: tiny
data:
  id:
    train: {format: npy, path: ${img}, labels: ${lab}, classes: [0, 2], transforms: [{type: random_crop, size: 8, padding: 2}, {type: hflip}]}
    test: {format: npy, path: ${img}, labels: ${lab}, classes: [0, 2]}
  aux: {format: synthetic, kind: uniform, size: 40, shape: [8, 8, 3]}
  ood:
    - {name: red, format: image-folder, dir: ${folder}, size: 8}
model: {ignored: by inspect}
`,
  );
  const out = path.join(dir, 'inspect-out');
  const res = await inspectConfig(cfg, { out, samples: 1000, seed: 0, sheets: true });
  assert.equal(res.shapeProblem, undefined);
  const [train, , aux, red] = res.reports;
  assert.equal(train.size, 20);
  assert.deepEqual(train.class_counts, { 0: 10, 1: 10 });
  assert.equal(train.num_classes, 2);
  assert.deepEqual(train.model_shape, [8, 8, 3]);
  assert.ok(Math.abs(aux.mean[0] - 0.5) < 0.05 && Math.abs(aux.std[1] - Math.sqrt(1 / 12)) < 0.03, `uniform noise stats ${aux.mean} ${aux.std}`);
  assert.deepEqual(red.mean.map((v) => Math.round(v * 1000) / 1000), [1, 0, 0]);
  assert.deepEqual(red.std.map((v) => Math.round(v * 1000) / 1000), [0, 0, 0]);
  assert.deepEqual(red.class_counts, { '-1': 3 });
  const meta = await sharp(red.contact_sheet!).metadata();
  assert.equal(meta.format, 'png');
  assert.ok(fs.existsSync(path.join(out, 'summary.json')));
  assert.equal(fs.readdirSync(out).filter((f) => f.endsWith('.png')).length, 4);

  // a shape disagreement is reported, naming each set
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('dir: ' + folder + ', size: 8', 'dir: ' + folder + ', size: 10'));
  const res2 = await inspectConfig(cfg, { out, samples: 10, seed: 0, sheets: false });
  assert.match(res2.shapeProblem ?? '', /"red" 10x10x3/);

  const r = await cli(['datasets', 'inspect', '--config', cfg, '--out', path.join(dir, 'cli-out'), '--samples', '50']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /id\.train +id-train +npy +20 +8x8x3 +8x8x3 +2/);
  assert.match(r.stderr, /warning: datasets feed the model images of different shapes/);
  const missing = await cli(['datasets', 'inspect', '--config', path.join(dir, 'nope.yaml')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /config file not found: .*nope\.yaml/);
});
