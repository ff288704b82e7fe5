import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng';
import { LayerBuilder, bn, conv2d, globalAvgPool, linear } from './layers';
import { ForwardOptions, ForwardResult, Model } from './model';

/**
 * ResNet-18 for 32x32 inputs as in the common CIFAR code (kuangliu/pytorch-cifar,
 * which the OOD papers' ResNet-18 checkpoints follow): a 3x3 stride-1 stem
 * (no 7x7 conv, no max-pool), BasicBlocks [2, 2, 2, 2] of widths 64, 128, 256,
 * 512 (strides 1, 2, 2, 2), global average pooling and a linear head.
 *
 * state_dict names (PyTorch layout in files, see src/io/torch-weights.ts):
 *   conv1.weight, bn1.{weight,bias,running_mean,running_var}
 *   layer{1-4}.{0,1}.conv1.weight, .bn1.*, .conv2.weight, .bn2.*
 *   layer{2-4}.0.shortcut.0.weight (1x1 conv), layer{2-4}.0.shortcut.1.* (its BN)
 *   linear.weight, linear.bias
 * kuangliu names the head `linear`; checkpoints that call it `fc` are accepted
 * on import (torch-weights.ts maps fc.* to linear.*).
 *
 * Initialisation: torchvision's ResNet init (conv kaiming normal fan_out, BN
 * 1/0, linear PyTorch default), since kuangliu's code relies on PyTorch's
 * default conv init, which trains worse from scratch.
 * The penultimate features are the pooled 512-vector. Average pooling is
 * global (kuangliu's avg_pool2d(out, 4) is global at 32x32), so other input
 * sizes work too.
 */
export const RESNET18_WIDTHS = [64, 128, 256, 512];
const BLOCKS = [2, 2, 2, 2];

interface BlockSpec {
  name: string;
  stride: number;
  shortcut: boolean;
}

export class ResNet18 implements Model {
  readonly arch = 'resnet18';
  readonly head = 'linear';
  readonly params;
  readonly buffers;
  private readonly blocks: BlockSpec[] = [];

  constructor(
    readonly inputShape: [number, number, number],
    readonly numClasses: number,
    rng: Rng,
  ) {
    const b = new LayerBuilder(rng);
    b.conv('conv1', 3, inputShape[2], 64);
    b.bn('bn1', 64);
    let cin = 64;
    RESNET18_WIDTHS.forEach((planes, li) => {
      for (let j = 0; j < BLOCKS[li]; j++) {
        const stride = j === 0 && li > 0 ? 2 : 1;
        const name = `layer${li + 1}.${j}`;
        const shortcut = stride !== 1 || cin !== planes;
        b.conv(`${name}.conv1`, 3, cin, planes);
        b.bn(`${name}.bn1`, planes);
        b.conv(`${name}.conv2`, 3, planes, planes);
        b.bn(`${name}.bn2`, planes);
        if (shortcut) {
          b.conv(`${name}.shortcut.0`, 1, cin, planes);
          b.bn(`${name}.shortcut.1`, planes);
        }
        this.blocks.push({ name, stride, shortcut });
        cin = planes;
      }
    });
    b.linear('linear', 512, numClasses);
    this.params = b.params;
    this.buffers = b.buffers;
  }

  forward(x: tf.Tensor4D, opts: ForwardOptions): ForwardResult {
    let h = tf.relu(bn(this, 'bn1', conv2d(this, 'conv1', x, 1, 1), opts));
    for (const { name, stride, shortcut } of this.blocks) {
      let out = tf.relu(bn(this, `${name}.bn1`, conv2d(this, `${name}.conv1`, h, stride, 1), opts));
      out = bn(this, `${name}.bn2`, conv2d(this, `${name}.conv2`, out, 1, 1), opts);
      const skip = shortcut ? bn(this, `${name}.shortcut.1`, conv2d(this, `${name}.shortcut.0`, h, stride, 0), opts) : h;
      h = tf.relu(tf.add(out, skip) as tf.Tensor4D);
    }
    const features = globalAvgPool(h);
    return { logits: linear(this, 'linear', features), features };
  }
}
