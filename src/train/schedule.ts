/** Learning-rate schedule settings of the config (`train.schedule`). */
export type ScheduleConfig =
  | { name: 'constant' }
  | { name: 'cosine'; min_lr: number }
  | { name: 'multistep'; milestones: number[]; gamma: number };

/**
 * Learning rate at global step `step` of `totalSteps` (steps per epoch `perEpoch`).
 * - cosine: per-step annealing, lr_min + (lr - lr_min)·(1 + cos(π·step/total))/2,
 *   as the Energy/OE fine-tuning code the paper builds on;
 * - multistep: lr·gamma^(number of epoch milestones passed), e.g. 0.1 -> 0.01 after epoch 50.
 */
export function learningRate(base: number, s: ScheduleConfig, step: number, totalSteps: number, perEpoch: number): number {
  switch (s.name) {
    case 'constant':
      return base;
    case 'cosine':
      return s.min_lr + ((base - s.min_lr) * (1 + Math.cos((Math.PI * step) / Math.max(1, totalSteps)))) / 2;
    case 'multistep': {
      const epoch = Math.floor(step / perEpoch);
      return base * s.gamma ** s.milestones.filter((m) => epoch >= m).length;
    }
  }
}
