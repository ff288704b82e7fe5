/**
 * The shape of a native kernel: tfjs's KernelFunc with the backend typed as
 * NativeBackend, and the config that registers it under backend 'native'.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeBackend } from '../backend';

export interface NativeKernelArgs<A> {
  inputs: Record<string, TensorInfo>;
  backend: NativeBackend;
  attrs: A;
}

export function nativeKernel<A = Record<string, never>>(
  kernelName: string,
  kernelFunc: (args: NativeKernelArgs<A>) => TensorInfo | TensorInfo[],
): KernelConfig {
  return { kernelName, backendName: 'native', kernelFunc: kernelFunc as unknown as KernelFunc };
}

/** Axis in [0, rank) from a possibly negative tfjs axis. */
export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
