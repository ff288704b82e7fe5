/**
 * Multithreaded wasm in Node. tfjs-backend-wasm turns threads off under Node
 * (WASM_HAS_MULTITHREAD_SUPPORT is false there), and its threaded build would
 * start its pthread workers from a blob: URL, which Node's worker_threads
 * rejects (ERR_WORKER_PATH). This module makes the threaded-SIMD build work:
 *  - the worker script (shipped as a string) is written to a file in the temp
 *    dir; while the backend initialises, URL.createObjectURL hands out that
 *    file's path for the worker blob;
 *  - inside the worker, the main script (sent as a Blob) is replaced by
 *    require() of the package's own threaded-simd glue file;
 *  - tfjs caps the pool at os.cpus().length / 2 (it assumes hyper-threading),
 *    so os.cpus() reports twice the cores during initialisation;
 *  - the pool's workers are unref'd so that they do not keep Node alive.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
// A plain require: the patch of os.cpus must reach the module object tfjs sees.
import os = require('node:os');
import * as path from 'node:path';

function wasmPackageDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/** Writes (once) the worker script and returns its absolute path. */
function workerScriptPath(): string {
  const dir = wasmPackageDir();
  const glue = path.join(dir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { wasmWorkerContents } = require(path.join(dir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  // The contents are meant for a Blob: real newlines inside string literals must be escaped.
  const body =
    wasmWorkerContents.replace(/\n/g, '\\n') +
    `\n;(function(){var orig=global.importScripts;global.importScripts=function(f){` +
    `if(typeof f==='string'&&f.indexOf('blob:')===0){global.WasmBackendModuleThreadedSimd=require(${JSON.stringify(glue)});return;}` +
    `return orig(f);};})();\n`;
  const hash = crypto.createHash('sha256').update(body).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `grodd-tfjs-wasm-worker-${hash}.js`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, body);
    fs.renameSync(tmp, file);
  }
  return file;
}

/** Threads to use: GRODD_WASM_THREADS, else the number of CPUs (max 8). */
export function wantedWasmThreads(): number {
  const env = process.env.GRODD_WASM_THREADS;
  if (env != null && env !== '') {
    const n = Number.parseInt(env, 10);
    if (Number.isFinite(n) && n >= 1) return Math.min(n, 8);
  }
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(cpus, 8));
}

/**
 * Runs `init` (which must initialise the wasm backend) with the threaded build
 * enabled for `threads` threads. Returns the thread count tfjs reports.
 */
export async function withThreadedWasm(
  tf: typeof import('@tensorflow/tfjs-core'),
  wasm: typeof import('@tensorflow/tfjs-backend-wasm'),
  threads: number,
  init: () => Promise<void>,
): Promise<number> {
  const workerFile = workerScriptPath();
  const origCreate = URL.createObjectURL;
  const origCpus = os.cpus;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  URL.createObjectURL = function (obj: Blob): string {
    if (obj != null && (obj as Blob).type === 'application/javascript') return workerFile;
    return origCreate.call(URL, obj);
  } as typeof URL.createObjectURL;
  // tfjs caps threads at cpus/2; report enough CPUs for `threads`.
  (os as { cpus: typeof os.cpus }).cpus = () => {
    const real = origCpus.call(os);
    const out = real.slice();
    while (out.length < 2 * threads) out.push(real[0]);
    return out;
  };
  try {
    await init();
  } finally {
    URL.createObjectURL = origCreate;
    (os as { cpus: typeof os.cpus }).cpus = origCpus;
  }
  unrefWorkers(tf);
  return wasm.getThreadsCount();
}

interface PThreadLike {
  runningWorkers?: Array<{ unref?: () => void }>;
  unusedWorkers?: Array<{ unref?: () => void }>;
}

/** Lets the process exit although the pthread pool's workers are alive. */
export function unrefWorkers(tf: typeof import('@tensorflow/tfjs-core')): void {
  const backend = tf.findBackend('wasm') as unknown as { wasm?: { PThread?: PThreadLike } } | null;
  const pt = backend?.wasm?.PThread;
  if (pt == null) return;
  for (const w of [...(pt.runningWorkers ?? []), ...(pt.unusedWorkers ?? [])]) w.unref?.();
}
