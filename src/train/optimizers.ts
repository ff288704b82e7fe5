import * as tf from '@tensorflow/tfjs-core';
import { assignValues, variableOf } from '../models/model';

/** Optimizer settings of the config (`train.optimizer`). */
export type OptimizerConfig =
  | { name: 'sgd'; momentum: number; nesterov: boolean; weight_decay: number }
  | { name: 'adam'; beta1: number; beta2: number; eps: number; weight_decay: number };

/**
 * First-order optimizers with PyTorch's semantics (weight decay added to the
 * gradient as L2, momentum buffer without dampening), so that the paper's
 * hyperparameters mean the same here. State is exposed for checkpoints.
 */
export interface Optimizer {
  /** Applies one update with learning rate `lr`; `grads` are keyed by weight name. */
  step(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void;
  /** Named state tensors (momentum buffers, Adam moments, step count): the optimizer's own, not to be disposed. */
  state(): Map<string, tf.Tensor>;
  /** Copies the values of `state` (as `state()` names them) into the optimizer; the caller keeps `state`. */
  loadState(state: Map<string, tf.Tensor>): void;
  /** Frees the state. */
  dispose(): void;
}

/** Whether the active backend has the fused update kernel `name` (the native backend's). */
function fused(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) != null;
}

function stateVar(store: Map<string, tf.Variable>, key: string, like: tf.Tensor): tf.Variable {
  let v = store.get(key);
  if (!v) {
    v = variableOf(tf.zerosLike(like), false);
    store.set(key, v);
  }
  return v;
}

/** SGD: g' = g + wd·w; b = μ·b + g'; step = nesterov ? g' + μ·b : b; w -= lr·step. */
export class Sgd implements Optimizer {
  private readonly buf = new Map<string, tf.Variable>();

  constructor(private readonly c: Extract<OptimizerConfig, { name: 'sgd' }>) {}

  step(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    const one = fused('GroddSgdUpdate');
    tf.tidy(() => {
      for (const [name, w] of params) {
        const g0 = grads[name];
        if (!g0) continue;
        if (one) {
          const b = this.c.momentum > 0 ? stateVar(this.buf, `${name}.momentum_buffer`, w) : undefined;
          const attrs = { lr, momentum: this.c.momentum, weightDecay: this.c.weight_decay, nesterov: this.c.nesterov };
          const [w2, b2] = tf.engine().runKernel('GroddSgdUpdate', b ? { w, g: g0, buf: b } : { w, g: g0 }, attrs as never) as tf.Tensor[];
          w.assign(w2);
          if (b) b.assign(b2);
          continue;
        }
        const g = this.c.weight_decay ? tf.add(g0, tf.mul(w, this.c.weight_decay)) : g0;
        let update = g;
        if (this.c.momentum > 0) {
          const b = stateVar(this.buf, `${name}.momentum_buffer`, w);
          b.assign(tf.add(tf.mul(b, this.c.momentum), g));
          update = this.c.nesterov ? tf.add(g, tf.mul(b, this.c.momentum)) : b;
        }
        w.assign(tf.sub(w, tf.mul(update, lr)));
      }
    });
  }

  state(): Map<string, tf.Tensor> {
    return new Map(this.buf);
  }

  loadState(state: Map<string, tf.Tensor>): void {
    for (const [k, t] of state) stateVar(this.buf, k, t).assign(t);
  }

  dispose(): void {
    tf.dispose([...this.buf.values()]);
    this.buf.clear();
  }
}

/** Adam (Kingma & Ba) with bias correction; weight decay as L2 on the gradient (torch.optim.Adam). */
export class Adam implements Optimizer {
  private readonly moments = new Map<string, tf.Variable>();
  private t = 0;
  /** The step count as a tensor, for state(); set there. */
  private readonly stepCount = variableOf(tf.scalar(0), false);

  constructor(private readonly c: Extract<OptimizerConfig, { name: 'adam' }>) {}

  step(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    this.t++;
    const { beta1, beta2, eps } = this.c;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    const one = fused('GroddAdamUpdate');
    tf.tidy(() => {
      for (const [name, w] of params) {
        const g0 = grads[name];
        if (!g0) continue;
        const m = stateVar(this.moments, `${name}.exp_avg`, w);
        const v = stateVar(this.moments, `${name}.exp_avg_sq`, w);
        if (one) {
          const attrs = { lr, beta1, beta2, eps, weightDecay: this.c.weight_decay, step: this.t };
          const [w2, m2, v2] = tf.engine().runKernel('GroddAdamUpdate', { w, g: g0, m, v }, attrs as never) as tf.Tensor[];
          w.assign(w2);
          m.assign(m2);
          v.assign(v2);
          continue;
        }
        const g = this.c.weight_decay ? tf.add(g0, tf.mul(w, this.c.weight_decay)) : g0;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(c2)), eps);
        w.assign(tf.sub(w, tf.mul(tf.div(m, denom), lr / c1)));
      }
    });
  }

  state(): Map<string, tf.Tensor> {
    assignValues(this.stepCount, Float32Array.of(this.t));
    return new Map<string, tf.Tensor>([...this.moments, ['step', this.stepCount]]);
  }

  loadState(state: Map<string, tf.Tensor>): void {
    for (const [k, t] of state) {
      if (k === 'step') this.t = t.dataSync()[0];
      else stateVar(this.moments, k, t).assign(t);
    }
  }

  dispose(): void {
    tf.dispose([...this.moments.values(), this.stepCount]);
    this.moments.clear();
  }
}

export function makeOptimizer(c: OptimizerConfig): Optimizer {
  return c.name === 'sgd' ? new Sgd(c) : new Adam(c);
}
