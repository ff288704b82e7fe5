/**
 * Chooses and initialises the TensorFlow.js backend, and makes sure grodd's
 * extra kernels (src/engine/kernels) and gradients (src/engine/gradients) are
 * registered.
 *
 * auto: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node (libtensorflow,
 * optional packages that are usually absent), then native (grodd's libtorch
 * addon, see native/), then wasm (XNNPACK, multithreaded, see
 * wasm-threads.ts), then the pure-JS cpu backend. GRODD_BACKEND, when set,
 * replaces the configured choice.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../util/errors';
import { enableEagerRelease } from './eager-release';
import { enableFastClone } from './fast-clone';
import { registerGradients } from './gradients';
import { registerWasmKernels } from './kernels';
import { NATIVE_HINT } from './native/addon';
import { nativeAddon } from './native/aten';
import { NATIVE, registerNative, wantedThreads } from './native';
import { unrefWorkers, wantedWasmThreads, withThreadedWasm } from './wasm-threads';

export type BackendChoice = 'auto' | 'tensorflow' | 'native' | 'wasm' | 'cpu';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'native', 'wasm', 'cpu'];

export type DeviceChoice = 'cpu' | 'cuda';

export const DEVICE_CHOICES: readonly DeviceChoice[] = ['cpu', 'cuda'];

export interface BackendOptions {
  /** wasm threads; default GRODD_WASM_THREADS or the CPU count. 1 = single-threaded build. */
  wasmThreads?: number;
  /** native intra-op threads; default GRODD_THREADS or the machine's cores. */
  threads?: number;
  /** Where the native backend computes; only the native backend has 'cuda'. */
  device?: DeviceChoice;
}

/** The choice GRODD_BACKEND forces over a config's, if it names a backend. */
export function backendFromEnv(): BackendChoice | undefined {
  const env = process.env.GRODD_BACKEND;
  if (env == null || env === '') return undefined;
  if (!(BACKEND_CHOICES as readonly string[]).includes(env)) {
    throw new UserError(`GRODD_BACKEND=${env}: expected one of ${BACKEND_CHOICES.join(', ')}`);
  }
  return env as BackendChoice;
}

type Log = (msg: string) => void;

/** Registers grodd's kernels and gradients for every backend that is loaded. */
export function ensureRegistrations(): void {
  // tfjs-core's node bundle registers no gradients (the @tensorflow/tfjs
  // umbrella package does); load tfjs-core's own set, then grodd's. Its set is
  // ES modules that only tsx loads: the compiled CLI has a CommonJS copy made by
  // `npm run build` (scripts/vendor-tfjs-gradients.js).
  const vendored = path.join(__dirname, '..', 'vendor', 'tfjs-core', 'register_all_gradients.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(fs.existsSync(vendored) ? vendored : '@tensorflow/tfjs-core/dist/register_all_gradients');
  registerGradients();
  enableEagerRelease();
  enableFastClone();
  // The wasm package must register its own kernels first, so that grodd's
  // replacements can keep the shipped ones as fallbacks.
  try {
    loadWasm();
  } catch {
    return; // no wasm package: nothing to add to it
  }
  registerWasmKernels();
}

// The wasm and cpu packages register themselves on import; loading them here
// (before ensureRegistrations) lets the wasm kernels be added/replaced.
let wasmModule: typeof import('@tensorflow/tfjs-backend-wasm') | undefined;
function loadWasm(): typeof import('@tensorflow/tfjs-backend-wasm') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  wasmModule ??= require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  return wasmModule;
}
function loadCpu(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@tensorflow/tfjs-backend-cpu');
}

/** Why a native package could not be loaded, or null once it is loaded. */
function tryNative(pkg: string): string | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(pkg);
    return null;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(pkg)) return `${pkg} not installed`;
    return `${pkg} failed to load: ${String(err.message).split('\n')[0]}`;
  }
}

let wasmThreads = 0;
let nativeThreads = 0;

/**
 * The emscripten glue adds process 'uncaughtException'/'unhandledRejection'
 * handlers that rethrow, so every later crash is reported at a 30 kB line of
 * minified glue. Node's defaults do the same without that noise: drop them.
 */
async function withoutGlueListeners(init: () => Promise<void>): Promise<void> {
  const events = ['uncaughtException', 'unhandledRejection'];
  type Listener = (...args: unknown[]) => void;
  const emitter = process as unknown as { listeners(e: string): Listener[]; removeListener(e: string, l: Listener): void };
  const before = events.map((e) => new Set(emitter.listeners(e)));
  try {
    await init();
  } finally {
    events.forEach((e, i) => {
      for (const l of emitter.listeners(e)) if (!before[i].has(l)) emitter.removeListener(e, l);
    });
  }
}

async function initWasm(opts: BackendOptions): Promise<string> {
  const wasm = loadWasm();
  ensureRegistrations();
  const engine = tf.engine() as unknown as { registry: Record<string, unknown> };
  const threads = opts.wasmThreads ?? wantedWasmThreads();
  if (engine.registry.wasm == null) {
    await withoutGlueListeners(async () => {
      let threaded = false;
      if (threads > 1) {
        try {
          wasmThreads = await withThreadedWasm(tf, wasm, threads, async () => {
            if (!(await tf.setBackend('wasm'))) throw new Error('threaded wasm backend failed to initialise');
          });
          threaded = true;
        } catch {
          // fall back to the single-threaded build below
          tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
          wasm.setThreadsCount(1);
        }
      }
      if (!threaded) {
        if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to initialise');
        wasmThreads = wasm.getThreadsCount();
      }
    });
  }
  // Already initialised (here or by an earlier tf op): just make it current.
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to initialise');
  unrefWorkers(tf);
  wasmThreads = wasm.getThreadsCount();
  await tf.ready();
  return `wasm (tfjs ${tf.version_core}, cpu, ${wasmThreads} thread${wasmThreads === 1 ? '' : 's'})`;
}

async function initCpu(): Promise<void> {
  loadCpu();
  ensureRegistrations();
  if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend failed to initialise');
  await tf.ready();
  // Silence the cpu backend's one-time "install tfjs-node" banner; the log line says it.
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu != null) cpu.firstUse = false;
}

/** The native backend: "native (libtorch 1.13.0, cpu, 2 threads)", or throws why it is unavailable. */
async function initTorch(opts: BackendOptions): Promise<string> {
  const why = registerNative();
  if (why != null) throw new Error(why);
  ensureRegistrations();
  if (!(await tf.setBackend(NATIVE))) throw new Error('the native backend failed to initialise');
  await tf.ready();
  const addon = nativeAddon();
  addon.setThreads(opts.threads ?? wantedThreads());
  addon.setDevice(opts.device ?? 'cpu');
  const info = addon.info();
  nativeThreads = info.threads;
  return `native (libtorch ${info.torch}, ${info.device}, ${info.threads} thread${info.threads === 1 ? '' : 's'})`;
}

async function initTensorflow(): Promise<string | null> {
  const reasons: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const why = tryNative(pkg);
    if (why == null) {
      ensureRegistrations();
      if (await tf.setBackend('tensorflow')) {
        await tf.ready();
        return pkg;
      }
      reasons.push(`${pkg} loaded but its backend did not initialise`);
    } else {
      reasons.push(why);
    }
  }
  throw new Error(reasons.join('; '));
}

/**
 * Initialises the backend `choice` and returns its name as tf.getBackend()
 * reports it. Safe to call repeatedly. An explicit choice that cannot load
 * throws UserError with the fix. The log line names the backend, its library
 * version, the device and the threads.
 */
export async function initBackend(choice: BackendChoice, log: Log = () => {}, opts: BackendOptions = {}): Promise<string> {
  if (opts.device === 'cuda' && choice !== 'native' && choice !== 'auto') {
    throw new UserError(`device 'cuda' needs backend 'native' (a libtorch build with CUDA), not '${choice}'`);
  }
  switch (choice) {
    case 'tensorflow': {
      try {
        const pkg = await initTensorflow();
        log(`backend: tensorflow (${pkg})`);
      } catch (e) {
        throw new UserError(
          `backend 'tensorflow' is not available (${(e as Error).message}). ` +
            `Install it with \`npm install @tensorflow/tfjs-node\` (or @tensorflow/tfjs-node-gpu with CUDA); ` +
            `it downloads libtensorflow, which needs internet access. Or choose backend 'native' or 'wasm'.`,
        );
      }
      return tf.getBackend();
    }
    case 'native': {
      let desc: string;
      try {
        desc = await initTorch(opts);
      } catch (e) {
        const msg = (e as Error).message;
        throw new UserError(`backend 'native' is not available: ${msg}${msg.includes('npm run build:native') ? '' : `; ${NATIVE_HINT}`}. Or choose backend 'wasm'.`);
      }
      log(`backend: ${desc}`);
      return tf.getBackend();
    }
    case 'wasm': {
      let desc: string;
      try {
        desc = await initWasm(opts);
      } catch (e) {
        throw new UserError(
          `backend 'wasm' could not be initialised (${(e as Error).message}). ` +
            `Reinstall @tensorflow/tfjs-backend-wasm (npm ci), set GRODD_WASM_THREADS=1 to use the single-threaded build, or choose backend 'cpu'.`,
        );
      }
      log(`backend: ${desc}`);
      return tf.getBackend();
    }
    case 'cpu':
      await initCpu();
      log(`backend: cpu (tfjs ${tf.version_core}, pure JavaScript, slow: use it as a reference only)`);
      return tf.getBackend();
    case 'auto': {
      let why: string;
      try {
        const pkg = await initTensorflow();
        log(`backend: tensorflow (${pkg})`);
        return tf.getBackend();
      } catch (e) {
        why = (e as Error).message;
      }
      try {
        const desc = await initTorch(opts);
        log(`backend: ${desc}`);
        return tf.getBackend();
      } catch (e) {
        why += `; native: ${(e as Error).message}`;
      }
      if (opts.device === 'cuda') throw new UserError(`device 'cuda' needs the native backend, which is not available (${why})`);
      try {
        const desc = await initWasm(opts);
        log(`backend: ${desc} (${why})`);
        return tf.getBackend();
      } catch (e) {
        why += `; wasm failed: ${(e as Error).message}`;
      }
      await initCpu();
      log(`backend: cpu (${why})`);
      return tf.getBackend();
    }
    default:
      throw new UserError(`unknown backend '${String(choice)}' (expected one of ${BACKEND_CHOICES.join(', ')})`);
  }
}

/**
 * For tests: makes `name` the active backend, initialising it (and the
 * registrations) on first use. The backends stay alive, so tests can switch
 * back and forth and compare.
 */
export async function useBackend(name: 'native' | 'wasm' | 'cpu', opts: BackendOptions = {}): Promise<void> {
  if (name === 'native') await initTorch(opts);
  else if (name === 'wasm') await initWasm(opts);
  else await initCpu();
}

/** Intra-op threads of the native backend (0 before it is initialised). */
export function nativeThreadCount(): number {
  return nativeThreads;
}

/** Threads of the wasm backend (0 before it is initialised). */
export function wasmThreadCount(): number {
  return wasmThreads;
}
