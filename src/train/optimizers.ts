import * as tf from '@tensorflow/tfjs-core';

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
  /** Named state tensors (momentum buffers, Adam moments, step count). */
  state(): Map<string, tf.Tensor>;
  loadState(state: Map<string, tf.Tensor>): void;
}

function stateVar(store: Map<string, tf.Variable>, key: string, like: tf.Tensor): tf.Variable {
  let v = store.get(key);
  if (!v) {
    v = tf.variable(tf.zerosLike(like), false);
    store.set(key, v);
  }
  return v;
}

/** SGD: g' = g + wd·w; b = μ·b + g'; step = nesterov ? g' + μ·b : b; w -= lr·step. */
export class Sgd implements Optimizer {
  private readonly buf = new Map<string, tf.Variable>();

  constructor(private readonly c: Extract<OptimizerConfig, { name: 'sgd' }>) {}

  step(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    tf.tidy(() => {
      for (const [name, w] of params) {
        const g0 = grads[name];
        if (!g0) continue;
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
}

/** Adam (Kingma & Ba) with bias correction; weight decay as L2 on the gradient (torch.optim.Adam). */
export class Adam implements Optimizer {
  private readonly moments = new Map<string, tf.Variable>();
  private t = 0;

  constructor(private readonly c: Extract<OptimizerConfig, { name: 'adam' }>) {}

  step(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    this.t++;
    const { beta1, beta2, eps } = this.c;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    tf.tidy(() => {
      for (const [name, w] of params) {
        const g0 = grads[name];
        if (!g0) continue;
        const g = this.c.weight_decay ? tf.add(g0, tf.mul(w, this.c.weight_decay)) : g0;
        const m = stateVar(this.moments, `${name}.exp_avg`, w);
        const v = stateVar(this.moments, `${name}.exp_avg_sq`, w);
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(c2)), eps);
        w.assign(tf.sub(w, tf.mul(tf.div(m, denom), lr / c1)));
      }
    });
  }

  state(): Map<string, tf.Tensor> {
    return new Map<string, tf.Tensor>([...this.moments, ['step', tf.scalar(this.t)]]);
  }

  loadState(state: Map<string, tf.Tensor>): void {
    for (const [k, t] of state) {
      if (k === 'step') this.t = t.dataSync()[0];
      else stateVar(this.moments, k, t).assign(t);
    }
  }
}

export function makeOptimizer(c: OptimizerConfig): Optimizer {
  return c.name === 'sgd' ? new Sgd(c) : new Adam(c);
}
