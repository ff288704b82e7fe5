import { logitRowStats } from '../../infer/softmax';
import { Detector } from './detector';

/**
 * GradNorm (Huang et al. 2021): the L1 norm of the gradient, with respect to the final layer's
 * weight W (not b), of the KL divergence from the uniform distribution u = 1/K to p = softmax(f)
 * at temperature 1. With KL(u ‖ p) = −log K − (1/K) Σ_j log p_j one gets ∂KL/∂f_j = p_j − 1/K and,
 * since f = z·W + b, ∂KL/∂W_aj = z_a (p_j − 1/K); so
 *   S(x) = Σ_a Σ_j |z_a| |p_j − 1/K| = ‖z‖₁ · Σ_j |p_j − 1/K|,
 * computed from this identity (no backward pass), in float64.
 * Not attacked by the robust evaluation: the score is itself a gradient with respect to W.
 */
export function gradNormDetector(): Detector {
  return {
    name: 'gradnorm',
    scoreOutputs(o) {
      const { max, sumExp } = logitRowStats(o.logits, o.k);
      const out = new Float64Array(o.n);
      for (let i = 0; i < o.n; i++) {
        let l1 = 0;
        for (let a = 0; a < o.d; a++) l1 += Math.abs(o.features[i * o.d + a]);
        let dev = 0;
        for (let j = 0; j < o.k; j++) dev += Math.abs(Math.exp(o.logits[i * o.k + j] - max[i]) / sumExp[i] - 1 / o.k);
        out[i] = l1 * dev;
      }
      return out;
    },
  };
}
