import { ModelConfig } from '../config/config';
import { Rng } from '../util/rng';
import { Model } from './model';
import { SmallCnn } from './small-cnn';

/** Builds the architecture named by the config, initialised from `rng`. */
export function createModel(c: ModelConfig, inputShape: [number, number, number], numClasses: number, rng: Rng): Model {
  switch (c.arch) {
    case 'small-cnn':
      return new SmallCnn(inputShape, numClasses, { channels: c.channels }, rng);
  }
}
