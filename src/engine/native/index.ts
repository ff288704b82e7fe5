/**
 * Registers the native backend with tfjs (once): its kernels, and the
 * backend itself under the name 'native', created on first use. Returns why
 * it cannot be had (no addon) instead of throwing.
 */
import * as os from 'node:os';
import { getKernel, registerBackend, registerKernel } from '@tensorflow/tfjs-core';
import { loadAddon, type NativeAddon } from './addon';
import { NativeBackend } from './backend';
import { registerNativeGradients } from './gradients';
import { NATIVE_KERNELS } from './kernels';

export const NATIVE = 'native';

let registered = false;

/** Intra-op threads: GRODD_THREADS, else the machine's cores. */
export function wantedThreads(): number {
  const env = process.env.GRODD_THREADS;
  if (env != null && env !== '') {
    const n = Number.parseInt(env, 10);
    if (Number.isFinite(n) && n >= 1) return n;
  }
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Registers backend 'native' (lowest priority: it is chosen explicitly); null, or the reason it cannot be. */
export function registerNative(): string | null {
  const addon = loadAddon();
  if ('why' in addon) return addon.why;
  if (registered) return null;
  registered = true;
  for (const k of NATIVE_KERNELS) if (getKernel(k.kernelName, NATIVE) == null) registerKernel(k);
  registerNativeGradients();
  registerBackend(NATIVE, () => new NativeBackend(addon as NativeAddon), -1);
  return null;
}
