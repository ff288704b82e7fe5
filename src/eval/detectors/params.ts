import { ConfigReader } from '../../config/reader';

/** The detectors' parameters, `eval.detectors.<name>` in a config. */
export interface DetectorParams {
  /** ODIN: temperature T and input perturbation ε in [0,1] pixel units. */
  odin: { temperature: number; epsilon: number };
  /** KNN: which nearest ID training feature gives the distance. */
  knn: { k: number };
  /** ViM: dimension D of the principal space; auto = half the feature dimension (rounded down). */
  vim: { dim: number | 'auto' };
  /** ReAct: the percentile of the ID training activations where features are clipped. */
  react: { percentile: number };
}

/** Reads `eval.detectors`, every parameter with its default (the papers' values). */
export function parseDetectorParams(r: ConfigReader): DetectorParams {
  const odin = r.object('odin');
  const knn = r.object('knn');
  const vim = r.object('vim');
  const react = r.object('react');
  const p: DetectorParams = {
    odin: { temperature: odin.number('temperature', 1000, { above: 0 }), epsilon: odin.number('epsilon', 0.0014, { min: 0 }) },
    knn: { k: knn.number('k', 50, { integer: true, min: 1 }) },
    vim: { dim: typeof vim.raw.dim === 'number' ? vim.number('dim', undefined, { integer: true, min: 1 }) : vimAuto(vim) },
    react: { percentile: react.number('percentile', 90, { min: 0, max: 100 }) },
  };
  for (const sub of [odin, knn, vim, react]) sub.done();
  r.done();
  return p;
}

function vimAuto(r: ConfigReader): 'auto' {
  if (r.has('dim') && r.raw.dim !== 'auto') r.fail('dim', `expected auto or an integer >= 1, got ${JSON.stringify(r.raw.dim)}`);
  return r.oneOf('dim', ['auto'] as const, 'auto');
}
