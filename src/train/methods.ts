/**
 * Training methods as presets of the loss weights and the outlier sampling, so
 * that a sweep can put them side by side on the same data. Each value is only
 * a default: any key set in the config wins.
 * - ce: cross-entropy on ID data only (no outliers);
 * - oe: Outlier Exposure, cross-entropy to uniform on outliers, weight 0.5 (Hendrycks et al. 2019);
 * - energy: energy margin loss, λ_S = 0.1 (Liu et al. 2020);
 * - greg: energy + gradient regularizer λ_∇S = 1, random outlier batches (Sharifi et al. 2024);
 * - greg+: greg with energy-based (k-means, two-way) outlier sampling.
 */
export const METHODS = ['ce', 'oe', 'energy', 'greg', 'greg+'] as const;
export type Method = (typeof METHODS)[number];

export interface MethodPreset {
  energyWeight: number;
  gradRegWeight: number;
  oeWeight: number;
  sampling: 'random' | 'energy';
}

export const METHOD_PRESETS: Record<Method, MethodPreset> = {
  ce: { energyWeight: 0, gradRegWeight: 0, oeWeight: 0, sampling: 'random' },
  oe: { energyWeight: 0, gradRegWeight: 0, oeWeight: 0.5, sampling: 'random' },
  energy: { energyWeight: 0.1, gradRegWeight: 0, oeWeight: 0, sampling: 'random' },
  greg: { energyWeight: 0.1, gradRegWeight: 1, oeWeight: 0, sampling: 'random' },
  'greg+': { energyWeight: 0.1, gradRegWeight: 1, oeWeight: 0, sampling: 'energy' },
};
