/**
 * Pieces shared by the paper's architectures (ResNet-18, WRN-40-2,
 * DenseNet-BC-100, DenseNet-121): initialisers that LayerBuilder does not
 * offer, dropout, and pooling with PyTorch's window alignment.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng';
import { LayerBuilder } from './layers';
import { variableOf } from './model';

/**
 * He normal with mode fan_in (std = sqrt(2 / (kh·kw·in))): torchvision's DenseNet
 * calls `nn.init.kaiming_normal_(w)` with its default mode. Replaces `name.weight`.
 */
export function kaimingNormalFanIn(b: LayerBuilder, rng: Rng, name: string, shape: [number, number, number, number]): void {
  const [kh, kw, cin] = shape;
  const std = Math.sqrt(2 / (kh * kw * cin));
  const n = shape.reduce((a, c) => a * c);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
  replaceParam(b, `${name}.weight`, tf.tensor4d(data, shape));
}

/** Sets a linear layer's bias to zero (the OE/Energy WRN and DenseNet code, and torchvision's DenseNet, do so). */
export function zeroBias(b: LayerBuilder, name: string): void {
  const v = b.params.get(`${name}.bias`)!;
  replaceParam(b, `${name}.bias`, tf.zeros(v.shape));
}

function replaceParam(b: LayerBuilder, name: string, t: tf.Tensor): void {
  b.params.get(name)?.dispose();
  b.params.set(name, variableOf(t, true));
}

/**
 * Inverted dropout as F.dropout: in train mode zero each element with
 * probability p and scale the rest by 1/(1-p); identity otherwise. The mask is
 * a constant of the forward pass, so nested gradients pass through it.
 */
export function dropout(x: tf.Tensor4D, p: number, training: boolean, rng: Rng): tf.Tensor4D {
  if (!training || p <= 0) return x;
  return tf.tidy(() => {
    const keep = tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', rng.int(2 ** 31)), p);
    return tf.mul(x, tf.mul(tf.cast(keep, 'float32'), 1 / (1 - p))) as tf.Tensor4D;
  });
}

/**
 * nn.MaxPool2d(3, stride 2, padding 1) of a non-negative input (after ReLU):
 * zero padding on every side, then a 'valid' pool, which puts the windows where
 * PyTorch does ('same' padding would pad only after). Zero padding equals
 * PyTorch's -inf padding because the input is >= 0 (and ReLU's gradient is 0 at 0).
 */
export function maxPool3s2p1(x: tf.Tensor4D): tf.Tensor4D {
  const padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  return tf.maxPool(padded, 3, 2, 'valid');
}

/** nn.AvgPool2d(2) / F.avg_pool2d(x, 2): 2x2 windows, stride 2, floor. */
export function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.avgPool(x, 2, 2, 'valid');
}
