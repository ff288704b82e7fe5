import { Model, classifierHead } from '../../models/model';
import { Detector, DetectorContext, Head } from './detector';
import { energyDetector } from './energy';
import { gradNormDetector } from './gradnorm';
import { knnDetector } from './knn';
import { mahalanobisDetector } from './mahalanobis';
import { maxLogitDetector } from './maxlogit';
import { mspDetector } from './msp';
import { odinDetector } from './odin';
import { DetectorParams } from './params';
import { reactDetector } from './react';
import { vimDetector } from './vim';

/** The detectors by the name configs and the CLI use (`eval.scores`, `grodd score --score`). */
export const SCORE_NAMES = ['energy', 'msp', 'maxlogit', 'odin', 'mahalanobis', 'knn', 'vim', 'react', 'gradnorm'] as const;
export type ScoreName = (typeof SCORE_NAMES)[number];

/** Detectors with statistics of the ID training set (fitted once per evaluation, stored in the run's detectors/). */
export const FITTED_SCORES: readonly ScoreName[] = ['mahalanobis', 'knn', 'vim', 'react'];

/** Narrows a user-given string to a ScoreName. */
export function isScoreName(name: string): name is ScoreName {
  return (SCORE_NAMES as readonly string[]).includes(name);
}

/** The model's final linear layer, read out once (its arrays) and kept as variables (for gradients). */
export function headOf(model: Model): Head {
  const { weight, bias } = classifierHead(model);
  const [d, k] = weight.shape;
  return { d, k, weight: weight.dataSync() as Float32Array, bias: bias.dataSync() as Float32Array, tf: { weight: weight as unknown as Head['tf']['weight'], bias: bias as unknown as Head['tf']['bias'] } };
}

/** A fresh (unfitted) detector. */
export function createDetector(name: ScoreName, ctx: DetectorContext, params: DetectorParams): Detector {
  switch (name) {
    case 'energy':
      return energyDetector();
    case 'msp':
      return mspDetector();
    case 'maxlogit':
      return maxLogitDetector();
    case 'odin':
      return odinDetector(ctx, params.odin);
    case 'mahalanobis':
      return mahalanobisDetector();
    case 'knn':
      return knnDetector(params.knn);
    case 'vim':
      return vimDetector(ctx, params.vim);
    case 'react':
      return reactDetector(ctx, params.react);
    case 'gradnorm':
      return gradNormDetector();
  }
}

/** Whether the robust evaluation can attack a detector: it has an input gradient. */
export function canAttack(d: Detector): boolean {
  return d.tfScore !== undefined || d.inputGradient !== undefined;
}
