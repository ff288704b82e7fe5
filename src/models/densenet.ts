import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng';
import { avgPool2, dropout, kaimingNormalFanIn, maxPool3s2p1, zeroBias } from './blocks';
import { LayerBuilder, bn, conv2d, globalAvgPool, linear } from './layers';
import { ForwardOptions, ForwardResult, Model } from './model';

/**
 * DenseNet-BC for 32x32 inputs as in the Outlier Exposure / Energy-OOD code
 * (models/densenet.py, `DenseNet3(100, K)`): depth 100, growth 12, bottleneck,
 * compression 0.5, three dense blocks of 16 bottleneck layers.
 *
 * state_dict names:
 *   conv1.weight (3x3, 3 -> 24)
 *   block{1-3}.layer.{0-15}.bn1.*, .conv1.weight (1x1 -> 48), .bn2.*, .conv2.weight (3x3 -> 12)
 *   trans{1,2}.bn1.*, trans{1,2}.conv1.weight (1x1, halves the channels), then 2x2 average pooling
 *   bn1.*, fc.weight, fc.bias (342 -> K)
 * Init as the reference: conv N(0, sqrt(2/(k·k·out))), BN 1/0, linear weight
 * PyTorch default, bias 0. Optional dropout after each conv of a layer and of a
 * transition, as the reference's dropRate. Features: the pooled 342-vector
 * after the final relu(bn1).
 */
export class DenseNetBC implements Model {
  readonly arch: string;
  readonly head = 'fc';
  readonly params;
  readonly buffers;
  private readonly layersPerBlock: number;
  private readonly rng: Rng;

  constructor(
    readonly inputShape: [number, number, number],
    readonly numClasses: number,
    readonly options: { depth: number; growth: number; dropout: number },
    rng: Rng,
  ) {
    const { depth, growth } = options;
    if ((depth - 4) % 6 !== 0) throw new Error(`DenseNet-BC depth must be 6n+4, got ${depth}`);
    this.arch = `densenet-bc-${depth}`;
    const n = (depth - 4) / 6;
    this.layersPerBlock = n;
    const b = new LayerBuilder(rng);
    let ch = 2 * growth;
    b.conv('conv1', 3, inputShape[2], ch);
    for (let blk = 1; blk <= 3; blk++) {
      for (let i = 0; i < n; i++) {
        const name = `block${blk}.layer.${i}`;
        b.bn(`${name}.bn1`, ch);
        b.conv(`${name}.conv1`, 1, ch, 4 * growth);
        b.bn(`${name}.bn2`, 4 * growth);
        b.conv(`${name}.conv2`, 3, 4 * growth, growth);
        ch += growth;
      }
      if (blk < 3) {
        const out = Math.floor(ch * 0.5);
        b.bn(`trans${blk}.bn1`, ch);
        b.conv(`trans${blk}.conv1`, 1, ch, out);
        ch = out;
      }
    }
    b.bn('bn1', ch);
    b.linear('fc', ch, numClasses);
    zeroBias(b, 'fc');
    this.params = b.params;
    this.buffers = b.buffers;
    this.rng = Rng.derive(rng.int(2 ** 31), 'dropout');
  }

  forward(x: tf.Tensor4D, opts: ForwardOptions): ForwardResult {
    const p = this.options.dropout;
    const drop = (t: tf.Tensor4D): tf.Tensor4D => dropout(t, p, opts.training, this.rng);
    let h = conv2d(this, 'conv1', x, 1, 1);
    for (let blk = 1; blk <= 3; blk++) {
      for (let i = 0; i < this.layersPerBlock; i++) {
        const name = `block${blk}.layer.${i}`;
        let out = drop(conv2d(this, `${name}.conv1`, tf.relu(bn(this, `${name}.bn1`, h, opts)), 1, 0));
        out = drop(conv2d(this, `${name}.conv2`, tf.relu(bn(this, `${name}.bn2`, out, opts)), 1, 1));
        h = tf.concat([h, out], 3);
      }
      if (blk < 3) h = avgPool2(drop(conv2d(this, `trans${blk}.conv1`, tf.relu(bn(this, `trans${blk}.bn1`, h, opts)), 1, 0)));
    }
    const features = globalAvgPool(tf.relu(bn(this, 'bn1', h, opts)));
    return { logits: linear(this, 'fc', features), features };
  }
}

/**
 * DenseNet-121 as torchvision builds it (for 224x224 ImageNet inputs; fully
 * convolutional, so smaller inputs work down to 32x32): 7x7 stride-2 stem,
 * 3x3 stride-2 max-pool, dense blocks of 6, 12, 24, 16 layers (growth 32,
 * bottleneck 4·32), transitions halving the channels, final BN, ReLU, global
 * average pooling and the classifier.
 *
 * state_dict names (torchvision's):
 *   features.conv0.weight, features.norm0.*
 *   features.denseblock{1-4}.denselayer{1..n}.norm1.*, .conv1.weight, .norm2.*, .conv2.weight
 *   features.transition{1-3}.norm.*, features.transition{1-3}.conv.weight
 *   features.norm5.*, classifier.weight, classifier.bias
 * Init as torchvision: conv kaiming normal (fan_in), BN 1/0, linear weight
 * PyTorch default, bias 0. Features: the pooled 1024-vector.
 */
const DENSENET121_BLOCKS = [6, 12, 24, 16];

export class DenseNet121 implements Model {
  readonly arch = 'densenet121';
  readonly head = 'classifier';
  readonly params;
  readonly buffers;
  private readonly rng: Rng;

  constructor(
    readonly inputShape: [number, number, number],
    readonly numClasses: number,
    readonly options: { dropout: number },
    rng: Rng,
  ) {
    const growth = 32;
    const b = new LayerBuilder(rng);
    const conv = (name: string, k: number, cin: number, cout: number): void => {
      b.conv(name, k, cin, cout);
      kaimingNormalFanIn(b, rng, name, [k, k, cin, cout]);
    };
    let ch = 64;
    conv('features.conv0', 7, inputShape[2], ch);
    b.bn('features.norm0', ch);
    DENSENET121_BLOCKS.forEach((n, bi) => {
      for (let i = 1; i <= n; i++) {
        const name = `features.denseblock${bi + 1}.denselayer${i}`;
        b.bn(`${name}.norm1`, ch);
        conv(`${name}.conv1`, 1, ch, 4 * growth);
        b.bn(`${name}.norm2`, 4 * growth);
        conv(`${name}.conv2`, 3, 4 * growth, growth);
        ch += growth;
      }
      if (bi < DENSENET121_BLOCKS.length - 1) {
        b.bn(`features.transition${bi + 1}.norm`, ch);
        conv(`features.transition${bi + 1}.conv`, 1, ch, Math.floor(ch / 2));
        ch = Math.floor(ch / 2);
      }
    });
    b.bn('features.norm5', ch);
    b.linear('classifier', ch, numClasses);
    zeroBias(b, 'classifier');
    this.params = b.params;
    this.buffers = b.buffers;
    this.rng = Rng.derive(rng.int(2 ** 31), 'dropout');
  }

  forward(x: tf.Tensor4D, opts: ForwardOptions): ForwardResult {
    const p = this.options.dropout;
    let h = conv2d(this, 'features.conv0', x, 2, 3);
    h = maxPool3s2p1(tf.relu(bn(this, 'features.norm0', h, opts)));
    DENSENET121_BLOCKS.forEach((n, bi) => {
      for (let i = 1; i <= n; i++) {
        const name = `features.denseblock${bi + 1}.denselayer${i}`;
        let out = conv2d(this, `${name}.conv1`, tf.relu(bn(this, `${name}.norm1`, h, opts)), 1, 0);
        out = conv2d(this, `${name}.conv2`, tf.relu(bn(this, `${name}.norm2`, out, opts)), 1, 1);
        // torchvision applies drop_rate to each new layer's output only.
        h = tf.concat([h, dropout(out, p, opts.training, this.rng)], 3);
      }
      if (bi < DENSENET121_BLOCKS.length - 1) {
        const t = `features.transition${bi + 1}`;
        h = avgPool2(conv2d(this, `${t}.conv`, tf.relu(bn(this, `${t}.norm`, h, opts)), 1, 0));
      }
    });
    const features = globalAvgPool(tf.relu(bn(this, 'features.norm5', h, opts)));
    return { logits: linear(this, 'classifier', features), features };
  }
}
