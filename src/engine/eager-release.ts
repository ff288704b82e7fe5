/**
 * Frees memory during the outermost backward pass as soon as each tape node
 * has been differentiated, as PyTorch frees a graph's buffers: the node's saved
 * tensors (kept for its gradient function only) and the gradients of its
 * outputs (consumed by that function). tfjs-core keeps both until the whole
 * backward pass ends, which made a double-backprop step hold every
 * intermediate gradient at once (~40% of its peak memory).
 *
 * Done by wrapping each tape node's gradient function as the engine records it
 * (Engine.addTapeNode). Nothing is freed in a nested pass (gradientDepth > 0:
 * the inner tf.grad of the gradient regularizer), whose tensors an outer tape
 * still references. A tensor returned as an input gradient is never freed
 * before every use of it: the count of places it was handed out is tracked.
 */
import * as tf from '@tensorflow/tfjs-core';

interface TapeNode {
  inputs: Record<string, tf.Tensor>;
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[]; gradientDepth: number };
  addTapeNode(...args: unknown[]): void;
}

const engine = () => tf.engine() as unknown as EngineInternals;

let original: EngineInternals['addTapeNode'] | null = null;

/** How many accumulated-gradient slots hold each tensor a thunk returned (the same tensor may be returned for several inputs). */
const handedOut = new WeakMap<tf.Tensor, number>();

function release(node: TapeNode, dys: (tf.Tensor | null)[], results: Set<tf.Tensor>): void {
  for (const t of node.saved ?? []) if (!results.has(t)) t.dispose();
  for (const dy of dys) {
    if (dy == null || dy.kept) continue;
    // This node consumed one slot holding dy; a pass-through (dy returned as an input gradient) holds another.
    const left = (handedOut.get(dy) ?? 1) - 1;
    handedOut.set(dy, left);
    if (left <= 0 && !results.has(dy)) dy.dispose();
  }
}

/** Wraps `node.gradient` so that, in an outermost pass, the node's buffers are freed once all its input gradients exist. */
function wrap(node: TapeNode): void {
  const gradient = node.gradient;
  if (gradient == null) return;
  // Called on the backward pass's pruned copy of the node, whose inputs are
  // only those on the gradient path: it evaluates the thunks of those alone.
  node.gradient = function (this: TapeNode, dys) {
    const thunks = gradient(dys);
    if (engine().state.gradientDepth > 0) return thunks;
    let left = Object.keys(this.inputs).length;
    const results = new Set<tf.Tensor>();
    const wrapped: Record<string, () => tf.Tensor> = {};
    for (const [name, thunk] of Object.entries(thunks)) {
      wrapped[name] = () => {
        const dx = thunk();
        results.add(dx);
        handedOut.set(dx, (handedOut.get(dx) ?? 0) + 1);
        if (--left === 0) release(this, dys, results);
        return dx;
      };
    }
    return wrapped;
  };
}

/** Installs the release on the current engine (idempotent). */
export function enableEagerRelease(): void {
  if (original) return;
  const e = engine();
  const add = e.addTapeNode;
  original = add;
  e.addTapeNode = function (this: EngineInternals, ...args: unknown[]) {
    add.apply(this, args);
    const tape = this.state.activeTape;
    wrap(tape[tape.length - 1]);
  };
}

/** Restores tfjs-core's behaviour (for comparisons in tests and benchmarks). */
export function disableEagerRelease(): void {
  if (!original) return;
  engine().addTapeNode = original;
  original = null;
}
