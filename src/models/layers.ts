import * as tf from '@tensorflow/tfjs-core';
import { batchNorm, batchNormTrain } from '../nn/batch-norm';
import { Rng } from '../util/rng';
import { kaimingNormalConv, linearUniform } from './init';
import { ForwardOptions, variableOf } from './model';

/**
 * Weight-building and forward helpers shared by the architectures. Each layer's
 * weights live in the model's `params`/`buffers` maps under PyTorch names.
 */
export class LayerBuilder {
  readonly params = new Map<string, tf.Variable>();
  readonly buffers = new Map<string, tf.Variable>();

  constructor(private readonly rng: Rng) {}

  private param(name: string, t: tf.Tensor): void {
    // Unnamed: tfjs variable names are process-global, and several models may coexist.
    this.params.set(name, variableOf(t, true));
  }

  private buffer(name: string, t: tf.Tensor): void {
    this.buffers.set(name, variableOf(t, false));
  }

  /** A bias-free conv kernel `name.weight` of shape [k, k, cin, cout]. */
  conv(name: string, k: number, cin: number, cout: number): void {
    this.param(`${name}.weight`, kaimingNormalConv(this.rng, [k, k, cin, cout]));
  }

  /** BN affine weights (1, 0) and running statistics (0, 1). */
  bn(name: string, ch: number): void {
    this.param(`${name}.weight`, tf.ones([ch]));
    this.param(`${name}.bias`, tf.zeros([ch]));
    this.buffer(`${name}.running_mean`, tf.zeros([ch]));
    this.buffer(`${name}.running_var`, tf.ones([ch]));
  }

  /** A linear layer `name.weight` [in, out] and `name.bias` [out]. */
  linear(name: string, cin: number, cout: number): void {
    this.param(`${name}.weight`, linearUniform(this.rng, [cin, cout], cin));
    this.param(`${name}.bias`, linearUniform(this.rng, [cout], cin));
  }
}

type Weights = { params: Map<string, tf.Variable>; buffers: Map<string, tf.Variable> };

function get(w: Map<string, tf.Variable>, name: string): tf.Variable {
  const v = w.get(name);
  if (!v) throw new Error(`model has no weight named ${name}`);
  return v;
}

export function conv2d(w: Weights, name: string, x: tf.Tensor4D, stride: number, pad: number): tf.Tensor4D {
  const kernel = get(w.params, `${name}.weight`) as tf.Tensor4D;
  const padding = pad === 0 ? 'valid' : ([[0, 0], [pad, pad], [pad, pad], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]]);
  return tf.conv2d(x, kernel, stride, padding);
}

/** Batch norm with batch statistics in train mode (recorded for the running update) and running statistics in eval mode. */
export function bn(w: Weights, name: string, x: tf.Tensor4D, opts: ForwardOptions, eps = 1e-5): tf.Tensor4D {
  const gamma = get(w.params, `${name}.weight`) as tf.Tensor1D;
  const beta = get(w.params, `${name}.bias`) as tf.Tensor1D;
  if (!opts.training) {
    return batchNorm(x, gamma, beta, get(w.buffers, `${name}.running_mean`), get(w.buffers, `${name}.running_var`), eps) as tf.Tensor4D;
  }
  const { y, mean, variance } = batchNormTrain(x, gamma, beta, eps);
  if (opts.bnStats) {
    // Clones kept past the gradient scope; they never enter the loss.
    opts.bnStats.push({ name, mean: tf.keep(mean.clone() as tf.Tensor1D), variance: tf.keep(variance.clone() as tf.Tensor1D), count: x.size / x.shape[3] });
  }
  return y as tf.Tensor4D;
}

export function linear(w: Weights, name: string, x: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(x, get(w.params, `${name}.weight`) as tf.Tensor2D), get(w.params, `${name}.bias`));
}

/** Global average pooling NHWC -> NC. */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]) as tf.Tensor2D;
}
