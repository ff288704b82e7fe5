/**
 * Backend selection: wasm initialises (multithreaded where the machine has
 * several cores) with grodd's kernels registered, explicit choices that cannot
 * load give a UserError, 'auto' picks native where its addon loads and
 * otherwise falls back with a logged reason.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, useBackend, wasmThreadCount } from '../src/engine/backend';
import { loadAddon } from '../src/engine/native/addon';
import { isWasmHeapFailure, largerMicroBatches } from '../src/engine/wasm-heap';
import { UserError } from '../src/util/errors';

function nativeInstalled(): boolean {
  for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    try {
      require.resolve(pkg);
      return true;
    } catch {
      /* absent */
    }
  }
  return false;
}

describe('initBackend', () => {
  it("'wasm' initialises, logs, registers grodd's kernels, and is idempotent", async () => {
    const logs: string[] = [];
    const name = await initBackend('wasm', (m) => logs.push(m));
    assert.equal(name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.match(logs[0], /^backend: wasm \(tfjs [\d.]+, cpu, \d+ threads?\)$/);
    assert.ok(wasmThreadCount() >= 1);
    for (const k of ['Conv2DBackpropFilter', 'BroadcastTo', 'LogSoftmax', 'UnsortedSegmentSum']) {
      assert.ok(tf.getKernel(k, 'wasm') != null, `${k} registered for wasm`);
    }
    assert.ok(tf.getGradient('Equal') != null);
    assert.equal(await initBackend('wasm'), 'wasm');
    // a conv net trains: Conv2DBackpropFilter exists and runs
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')))(
      tf.ones([3, 3, 1, 2]),
    );
    assert.deepEqual(Array.from(await g.data()), new Array(18).fill(4));
  });

  it("'cpu' initialises and switching back and forth works", async () => {
    assert.equal(await initBackend('cpu'), 'cpu');
    await useBackend('wasm');
    assert.equal(tf.getBackend(), 'wasm');
    await useBackend('cpu');
    assert.equal(tf.getBackend(), 'cpu');
  });

  it("'tensorflow' without tfjs-node gives a UserError naming the fix", { skip: nativeInstalled() && 'tfjs-node is installed' }, async () => {
    await assert.rejects(initBackend('tensorflow'), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match((e as Error).message, /@tensorflow\/tfjs-node/);
      assert.match((e as Error).message, /not installed/);
      assert.match((e as Error).message, /wasm/);
      return true;
    });
  });

  it("'auto' picks native where the addon loads, else falls back to wasm and says why", { skip: nativeInstalled() && 'tfjs-node is installed' }, () => {
    const script = `
      const { initBackend } = require('./src/engine/backend');
      initBackend('auto', (m) => console.log(m)).then((name) => console.log('chose ' + name));`;
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: path.join(__dirname, '..'), env: { ...process.env, GRODD_WASM_THREADS: '1', ...env }, encoding: 'utf8', timeout: 60_000 });
    const without = run({ GRODD_NATIVE_ADDON: '/nonexistent/grodd_native.node' });
    assert.equal(without.status, 0, without.stderr);
    assert.match(without.stdout, /^backend: wasm \(tfjs [\d.]+, cpu, 1 thread\) \(@tensorflow\/tfjs-node-gpu not installed; @tensorflow\/tfjs-node not installed; native: the native addon is not built .*npm run build:native`\)$/m);
    assert.match(without.stdout, /chose wasm/);
    if (!('why' in loadAddon())) {
      const withAddon = run({ GRODD_THREADS: '1' });
      assert.equal(withAddon.status, 0, withAddon.stderr);
      assert.match(withAddon.stdout, /^backend: native \(libtorch [\d.]+, cpu, 1 thread\)$/m);
      assert.match(withAddon.stdout, /chose native/);
    }
  });

  it("'native' without the addon is a UserError with the way to get it", () => {
    const script = `
      const { initBackend } = require('./src/engine/backend');
      initBackend('native').catch((e) => console.log(e.name + ': ' + e.message));`;
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: path.join(__dirname, '..'), env: { ...process.env, GRODD_NATIVE_ADDON: '/nonexistent/grodd_native.node' }, encoding: 'utf8', timeout: 60_000 });
    assert.match(r.stdout, /UserError: backend 'native' is not available: the native addon is not built .*libtorch-dev.*npm run build:native.*Or choose backend 'wasm'/);
  });

  it("'cuda' needs the native backend", async () => {
    await assert.rejects(initBackend('wasm', () => {}, { device: 'cuda' }), /device 'cuda' needs backend 'native'/);
  });

  it('an unknown choice is a UserError', async () => {
    await assert.rejects(initBackend('gpu' as never), UserError);
  });

  it('multithreaded wasm computes like single-threaded wasm and lets the process exit', () => {
    const script = `
      const tf = require('@tensorflow/tfjs-core');
      const { initBackend } = require(${JSON.stringify(path.join(__dirname, '..', 'src', 'engine', 'backend'))});
      (async () => {
        await initBackend('wasm', (m) => console.log(m));
        const x = tf.tensor4d(Array.from({ length: 2 * 9 * 9 * 3 }, (_, i) => Math.sin(i)), [2, 9, 9, 3]);
        const w = tf.tensor4d(Array.from({ length: 3 * 3 * 3 * 8 }, (_, i) => Math.cos(i)), [3, 3, 3, 8]);
        const y = tf.sum(tf.square(tf.conv2d(x, w, 1, 'same')));
        console.log('value ' + (await y.data())[0].toFixed(3));
      })();`;
    const run = (threads: string) =>
      spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
        cwd: path.join(__dirname, '..'),
        env: { ...process.env, GRODD_WASM_THREADS: threads },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const one = run('1');
    const two = run('2');
    assert.equal(one.status, 0, one.stderr);
    assert.equal(two.status, 0, two.stderr); // exits on its own (workers unref'd), within the timeout
    assert.match(one.stdout, /backend: wasm \(tfjs [\d.]+, cpu, 1 thread\)/);
    assert.match(two.stdout, /backend: wasm \(tfjs [\d.]+, cpu, 2 threads\)/);
    const v1 = one.stdout.match(/value (\S+)/)?.[1];
    const v2 = two.stdout.match(/value (\S+)/)?.[1];
    assert.ok(v1 != null && v1 === v2, `${v1} vs ${v2}`);
  });
});

describe('wasm heap exhaustion', () => {
  it('an output larger than the 4 GB heap fails with an error isWasmHeapFailure recognises', () => {
    // In a child: the wasm module is unusable after such a failure.
    const script = `
      const tf = require('@tensorflow/tfjs-core');
      const { initBackend } = require('./src/engine/backend');
      const { isWasmHeapFailure } = require('./src/engine/wasm-heap');
      (async () => {
        await initBackend('wasm');
        try { tf.tile(tf.ones([1000]), [1100000]); console.log('no failure'); }
        catch (e) { console.log('recognised ' + isWasmHeapFailure(e) + ' (' + e.message.split('\\n')[0] + ')'); }
        process.exit(0);
      })();`;
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: path.join(__dirname, '..'), env: { ...process.env, GRODD_WASM_THREADS: '1' }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /recognised true/);
  });

  it('suggests the next number of micro-batches dividing both batches', () => {
    assert.equal(largerMicroBatches(64, 128, 1), 2);
    assert.equal(largerMicroBatches(64, 128, 4), 8);
    assert.equal(largerMicroBatches(64, 96, 16), 32);
    assert.equal(largerMicroBatches(64, 96, 32), null);
    assert.equal(largerMicroBatches(12, 0, 2), 4);
    assert.equal(isWasmHeapFailure(new Error('Aborted()')), false, 'only wasm runtime errors');
  });
});
