import { ArrayDataset, Dataset, ImageShape } from './dataset';
import { ConfigReader } from '../config/reader';
import { Rng } from '../util/rng';

/**
 * Seeded synthetic images, used as far-OOD test sets:
 * - `uniform`: every pixel U[0, 1);
 * - `gaussian`: every pixel N(0.5, 0.25^2), clipped to [0, 1];
 * - `blobs`: a few soft Gaussian spots on a dark background.
 * Unlabelled (label -1).
 */
export interface SyntheticOptions {
  kind: 'uniform' | 'gaussian' | 'blobs';
  size: number;
  shape: ImageShape;
  seed: number;
}

/** Pixel values a synthetic set may hold: it is generated in memory (float32), so at most 1 GiB. */
export const MAX_SYNTHETIC_VALUES = 2 ** 28;

export function parseSynthetic(r: ConfigReader): SyntheticOptions {
  const shape = r.numberList('shape', [28, 28, 1], { integer: true, min: 1 });
  if (shape.length !== 3) r.fail('shape', `expected [height, width, channels], got ${shape.length} numbers`);
  if (shape[0] > 4096 || shape[1] > 4096 || shape[2] > 4) r.fail('shape', `at most [4096, 4096, 4] (height, width, channels), got [${shape.join(', ')}]`);
  const o: SyntheticOptions = {
    kind: r.oneOf('kind', ['uniform', 'gaussian', 'blobs'] as const, 'uniform'),
    size: r.number('size', 1000, { integer: true, min: 1 }),
    shape: shape as ImageShape,
    seed: r.number('seed', 0, { integer: true, min: 0 }),
  };
  const values = o.size * shape[0] * shape[1] * shape[2];
  if (values > MAX_SYNTHETIC_VALUES) {
    r.fail('size', `${o.size} images of ${shape.join('x')} are ${values.toExponential(2)} pixel values (${(values * 4 / 2 ** 30).toPrecision(3)} GiB); a synthetic set is generated in memory, at most ${MAX_SYNTHETIC_VALUES.toLocaleString('en-US')} values (1 GiB): lower size or shape`);
  }
  return o;
}

export async function openSynthetic(name: string, o: SyntheticOptions): Promise<Dataset> {
  const [h, w, c] = o.shape;
  const per = h * w * c;
  const x = new Float32Array(o.size * per);
  const rng = Rng.derive(o.seed, `synthetic:${o.kind}`);
  for (let n = 0; n < o.size; n++) {
    const img = x.subarray(n * per, (n + 1) * per);
    if (o.kind === 'uniform') {
      for (let p = 0; p < per; p++) img[p] = rng.next();
    } else if (o.kind === 'gaussian') {
      for (let p = 0; p < per; p++) img[p] = Math.min(1, Math.max(0, 0.5 + 0.25 * rng.normal()));
    } else {
      const spots = 1 + rng.int(4);
      for (let s = 0; s < spots; s++) {
        const cy = rng.next() * h;
        const cx = rng.next() * w;
        const r2 = (0.05 + 0.15 * rng.next()) ** 2 * h * w;
        const amp = 0.5 + 0.5 * rng.next();
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < w; j++) {
            const v = amp * Math.exp(-((i - cy) ** 2 + (j - cx) ** 2) / (2 * r2));
            for (let ch = 0; ch < c; ch++) {
              const q = (i * w + j) * c + ch;
              img[q] = Math.min(1, img[q] + v);
            }
          }
        }
      }
    }
  }
  return new ArrayDataset(name, o.shape, x, new Int32Array(o.size).fill(-1), 0);
}
