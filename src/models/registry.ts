import { ModelArch, ModelConfig } from '../config/config';
import { Rng } from '../util/rng';
import { DenseNet121, DenseNetBC } from './densenet';
import { Model } from './model';
import { ResNet18 } from './resnet18';
import { SMALL_CNN_DEFAULTS, SmallCnn } from './small-cnn';
import { WideResNet } from './wrn';

/** Builds the architecture named by the config, initialised from `rng`. */
export function createModel(c: ModelConfig, inputShape: [number, number, number], numClasses: number, rng: Rng): Model {
  switch (c.arch) {
    case 'small-cnn':
      return new SmallCnn(inputShape, numClasses, { channels: c.channels ?? SMALL_CNN_DEFAULTS.channels, strides: c.strides ?? SMALL_CNN_DEFAULTS.strides }, rng);
    case 'resnet18':
      return new ResNet18(inputShape, numClasses, rng);
    case 'wrn-40-2':
      return new WideResNet(inputShape, numClasses, { depth: 40, widen: 2, dropout: c.dropout ?? 0 }, rng);
    case 'densenet-bc-100':
      return new DenseNetBC(inputShape, numClasses, { depth: 100, growth: 12, dropout: c.dropout ?? 0 }, rng);
    case 'densenet121':
      return new DenseNet121(inputShape, numClasses, { dropout: c.dropout ?? 0 }, rng);
  }
}

/** Each architecture with the input and number of classes it is usually used with (for `grodd models list`). */
export const ARCH_INFO: Record<ModelArch, { input: [number, number, number]; classes: number; about: string }> = {
  'small-cnn': { input: [28, 28, 1], classes: 10, about: `conv3x3-BN-ReLU blocks [${SMALL_CNN_DEFAULTS.channels}] at strides [${SMALL_CNN_DEFAULTS.strides}], for digits and Fashion-MNIST` },
  resnet18: { input: [32, 32, 3], classes: 10, about: 'CIFAR ResNet-18 (3x3 stem, no max-pool), kuangliu naming' },
  'wrn-40-2': { input: [32, 32, 3], classes: 10, about: 'Wide ResNet 40-2 as in the OE/Energy code' },
  'densenet-bc-100': { input: [32, 32, 3], classes: 10, about: 'DenseNet-BC depth 100, growth 12, as in the OE/Energy code' },
  densenet121: { input: [224, 224, 3], classes: 1000, about: 'DenseNet-121, torchvision naming' },
};

/** A model config for `arch` with its defaults (no init_from). */
export function defaultModelConfig(arch: ModelArch): ModelConfig {
  if (arch === 'small-cnn') return { arch, ...SMALL_CNN_DEFAULTS };
  if (arch === 'resnet18') return { arch };
  return { arch, dropout: 0 };
}
