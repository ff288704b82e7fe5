import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng';
import { LayerBuilder, bn, conv2d, globalAvgPool, linear } from './layers';
import { ForwardOptions, ForwardResult, Model } from './model';

/**
 * A small CNN for 28x28 digits and similar: blocks of conv3x3 - BN - ReLU with
 * the given strides, global average pooling, and a linear head. The
 * penultimate features are the pooled activations.
 */
export interface SmallCnnOptions {
  channels: number[];
  /** Stride per block; stride 2 everywhere widens the receptive field at low cost. */
  strides: number[];
}

/** Defaults: three stride-2 blocks reach a 15-pixel receptive field at a third of the cost of a stride-1 first block. */
export const SMALL_CNN_DEFAULTS: SmallCnnOptions = { channels: [32, 64, 128], strides: [2, 2, 2] };

export class SmallCnn implements Model {
  readonly arch = 'small-cnn';
  readonly head = 'fc';
  readonly params;
  readonly buffers;

  constructor(
    readonly inputShape: [number, number, number],
    readonly numClasses: number,
    readonly options: SmallCnnOptions,
    rng: Rng,
  ) {
    if (options.strides.length !== options.channels.length) {
      throw new Error(`small-cnn: ${options.channels.length} channel counts but ${options.strides.length} strides`);
    }
    const b = new LayerBuilder(rng);
    let cin = inputShape[2];
    options.channels.forEach((cout, i) => {
      b.conv(`blocks.${i}.conv`, 3, cin, cout);
      b.bn(`blocks.${i}.bn`, cout);
      cin = cout;
    });
    b.linear('fc', cin, numClasses);
    this.params = b.params;
    this.buffers = b.buffers;
  }

  forward(x: tf.Tensor4D, opts: ForwardOptions): ForwardResult {
    let h = x;
    this.options.channels.forEach((_, i) => {
      h = tf.relu(bn(this, `blocks.${i}.bn`, conv2d(this, `blocks.${i}.conv`, h, this.options.strides[i], 1), opts));
    });
    const features = globalAvgPool(h);
    return { logits: linear(this, 'fc', features), features };
  }
}
