/**
 * A cheaper Engine.clone, the call tfjs-core makes for every tensor a tape node
 * saves for its gradient. tfjs runs it as an Identity kernel (the whole kernel
 * machinery: scopes, profiling hooks, tensor bookkeeping) and records a tape
 * node whose gradient is a Cast kernel; a GReg step of the small CNN spent 393
 * Identity and 176 Cast calls (of 1,475) on this. Here the clone shares the
 * tensor's data directly (what every backend's Identity does: one more
 * reference to the same buffer) and its gradient is again such a clone, so
 * gradients of any order flow through it unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';

import { shareData } from './share';

interface EngineInternals {
  state: { activeScope: { name: string } };
  clone(x: tf.Tensor): tf.Tensor;
  isTapeOn(): boolean;
  addTapeNode(kernelName: string, inputs: Record<string, tf.Tensor>, outputs: tf.Tensor[], grad: (dy: tf.Tensor) => Record<string, () => tf.Tensor>, saved: tf.Tensor[], attrs: object): void;
}

const engine = () => tf.engine() as unknown as EngineInternals;

let original: EngineInternals['clone'] | null = null;

/**
 * As tfjs's clone, it records its tape node unconditionally: it runs inside a
 * kernel (saving that kernel's tensors), where the tape is paused though a
 * gradient is being recorded.
 */
function fastClone(this: EngineInternals, x: tf.Tensor): tf.Tensor {
  const y = shareData(x);
  // The gradient, run in a backward pass: recorded (by clone) only where an outer gradient is being taken.
  const grad = (dy: tf.Tensor) => ({ x: () => (this.isTapeOn() ? this.clone(dy) : shareData(dy)) });
  this.addTapeNode(this.state.activeScope.name, { x }, [y], grad, [], {});
  return y;
}

/** Installs the fast clone on the current engine (idempotent). */
export function enableFastClone(): void {
  if (original) return;
  const e = engine();
  original = e.clone;
  e.clone = fastClone;
}

/** Restores tfjs-core's clone (for comparisons in tests). */
export function disableFastClone(): void {
  if (!original) return;
  engine().clone = original;
  original = null;
}
