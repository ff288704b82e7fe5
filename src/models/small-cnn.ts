import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng';
import { LayerBuilder, bn, conv2d, globalAvgPool, linear } from './layers';
import { ForwardOptions, ForwardResult, Model } from './model';

/**
 * A small CNN for 28x28 digits and similar: blocks of conv3x3 - BN - ReLU
 * (the first at stride 1, the rest at stride 2), global average pooling, and a
 * linear head. The penultimate features are the pooled activations.
 */
export interface SmallCnnOptions {
  channels: number[];
}

export class SmallCnn implements Model {
  readonly arch = 'small-cnn';
  readonly params;
  readonly buffers;

  constructor(
    readonly inputShape: [number, number, number],
    readonly numClasses: number,
    readonly options: SmallCnnOptions,
    rng: Rng,
  ) {
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
      h = tf.relu(bn(this, `blocks.${i}.bn`, conv2d(this, `blocks.${i}.conv`, h, i === 0 ? 1 : 2, 1), opts));
    });
    const features = globalAvgPool(h);
    return { logits: linear(this, 'fc', features), features };
  }
}
