import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng';
import { dropout, zeroBias } from './blocks';
import { LayerBuilder, bn, conv2d, globalAvgPool, linear } from './layers';
import { ForwardOptions, ForwardResult, Model } from './model';

/**
 * Wide ResNet (Zagoruyko & Komodakis) as in the Outlier Exposure / Energy-OOD
 * code (models/wrn.py), default WRN-40-2: depth 40 (6 pre-activation
 * BasicBlocks per group), widths 16, 32, 64, 128.
 *
 * state_dict names:
 *   conv1.weight
 *   block{1-3}.layer.{0-5}.bn1.*, .conv1.weight, .bn2.*, .conv2.weight
 *   block{1-3}.layer.0.convShortcut.weight (where in != out channels)
 *   bn1.*, fc.weight, fc.bias
 * As in the reference, a block whose input and output widths differ applies
 * relu(bn1(x)) to its input and feeds that activation to both conv1 and the
 * 1x1 shortcut; an equal-width block adds the raw input. Optional dropout
 * (`dropout: 0.3` in the config; the reference's dropRate) sits between the
 * two convs. Init as the reference: conv N(0, sqrt(2/(k·k·out))), BN 1/0,
 * linear weight PyTorch default, bias 0. Features: the pooled 128-vector
 * after the final relu(bn1).
 */
interface BlockSpec {
  name: string;
  stride: number;
  equal: boolean;
}

export class WideResNet implements Model {
  readonly arch: string;
  readonly head = 'fc';
  readonly params;
  readonly buffers;
  private readonly blocks: BlockSpec[] = [];
  private readonly rng: Rng;

  constructor(
    readonly inputShape: [number, number, number],
    readonly numClasses: number,
    readonly options: { depth: number; widen: number; dropout: number },
    rng: Rng,
  ) {
    const { depth, widen } = options;
    if ((depth - 4) % 6 !== 0) throw new Error(`WRN depth must be 6n+4, got ${depth}`);
    this.arch = `wrn-${depth}-${widen}`;
    const n = (depth - 4) / 6;
    const widths = [16, 16 * widen, 32 * widen, 64 * widen];
    const b = new LayerBuilder(rng);
    b.conv('conv1', 3, inputShape[2], widths[0]);
    for (let g = 0; g < 3; g++) {
      for (let i = 0; i < n; i++) {
        const cin = i === 0 ? widths[g] : widths[g + 1];
        const cout = widths[g + 1];
        const name = `block${g + 1}.layer.${i}`;
        b.bn(`${name}.bn1`, cin);
        b.conv(`${name}.conv1`, 3, cin, cout);
        b.bn(`${name}.bn2`, cout);
        b.conv(`${name}.conv2`, 3, cout, cout);
        const equal = cin === cout;
        if (!equal) b.conv(`${name}.convShortcut`, 1, cin, cout);
        this.blocks.push({ name, stride: i === 0 && g > 0 ? 2 : 1, equal });
      }
    }
    b.bn('bn1', widths[3]);
    b.linear('fc', widths[3], numClasses);
    zeroBias(b, 'fc');
    this.params = b.params;
    this.buffers = b.buffers;
    this.rng = Rng.derive(rng.int(2 ** 31), 'dropout');
  }

  forward(x: tf.Tensor4D, opts: ForwardOptions): ForwardResult {
    let h = conv2d(this, 'conv1', x, 1, 1);
    for (const { name, stride, equal } of this.blocks) {
      const act = tf.relu(bn(this, `${name}.bn1`, h, opts));
      let out = tf.relu(bn(this, `${name}.bn2`, conv2d(this, `${name}.conv1`, act, stride, 1), opts));
      out = dropout(out, this.options.dropout, opts.training, this.rng);
      out = conv2d(this, `${name}.conv2`, out, 1, 1);
      h = tf.add(equal ? h : conv2d(this, `${name}.convShortcut`, act, stride, 0), out);
    }
    const features = globalAvgPool(tf.relu(bn(this, 'bn1', h, opts)));
    return { logits: linear(this, 'fc', features), features };
  }
}
