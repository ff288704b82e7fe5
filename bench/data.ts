// Data pipeline benchmark (npm run bench:data):
// 1. writes a 300000 x 32 x 32 x 3 uint8 .npy (921 MB, the size of the 300K Random Images set) to a temp dir,
//    reads random batches of 64 through the npy reader and through the DataLoader (shuffle + CIFAR
//    augmentation + normalisation, prefetch 2), prints samples/s and the process's peak RSS
//    (the file is read at offsets, so RSS must stay far below the file size; target < 300 MB);
// 2. writes a few hundred JPEGs (256x256, like Places365 test_256) and measures decode + resize to 32x32
//    through the image-folder reader (a batch's images decoded in parallel).
// Options: --batches N (npy batches, default 2000), --images N (default 400), --keep (do not delete the temp dir).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { DataLoader } from '../src/data/loader';
import { openNpy } from '../src/data/npy';
import { openImageFolder } from '../src/data/image-folder';
import { TransformSpec } from '../src/data/transforms';
import { Rng } from '../src/util/rng';
import { npyBytes } from '../test/data-writers';
import { arg } from './args';

const N = 300_000;
const PER = 32 * 32 * 3;
const BATCH = 64;
const batches = Number(arg('batches', '2000'));
const images = Number(arg('images', '400'));
const keep = process.argv.includes('--keep');
const rssMB = (): string => (process.resourceUsage().maxRSS / 1024).toFixed(0);

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grodd-bench-data-'));
  const cleanup = (): void => {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => (cleanup(), process.exit(130)));
  try {
    console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM; temp dir ${dir}`);
    // ---- 1. a 921 MB .npy
    const file = path.join(dir, '300K_random_images.npy');
    let t = Date.now();
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, npyBytes('|u1', [N, 32, 32, 3], Buffer.alloc(0)));
    const chunk = Buffer.alloc(1000 * PER);
    for (let s = 0; s < N; s += 1000) {
      crypto.randomFillSync(chunk);
      fs.writeSync(fd, chunk);
    }
    fs.closeSync(fd);
    const size = fs.statSync(file).size;
    console.log(`wrote ${file} (${(size / 1e6).toFixed(0)} MB) in ${((Date.now() - t) / 1000).toFixed(1)} s; peak RSS so far ${rssMB()} MB`);

    const ds = await openNpy('tiny-300k', { path: file, layout: 'nhwc' });
    const rng = new Rng(1);
    t = performance.now();
    let sum = 0;
    for (let b = 0; b < batches; b++) {
      const idx = Array.from({ length: BATCH }, () => rng.int(N));
      const batch = await ds.read(idx);
      sum += batch.x[0];
    }
    let sec = (performance.now() - t) / 1000;
    console.log(`npy random batches of ${BATCH}: ${batches} batches, ${((batches * BATCH) / sec).toFixed(0)} samples/s (${((1000 * sec) / batches).toFixed(2)} ms/batch); peak RSS ${rssMB()} MB  [checksum ${sum.toFixed(2)}]`);

    const transforms: TransformSpec[] = [
      { type: 'random_crop', size: [32, 32], padding: 4, padding_mode: 'constant' },
      { type: 'hflip', p: 0.5 },
      { type: 'normalize', mean: [0.4914, 0.4824, 0.4467], std: [0.2471, 0.2435, 0.2616] },
    ];
    const loader = new DataLoader(ds, { batchSize: BATCH, seed: 0, transforms, prefetch: 2, dropLast: true });
    t = performance.now();
    let k = 0;
    for await (const b of loader.epoch(0)) {
      sum += b.x[0];
      if (++k >= batches) break;
    }
    sec = (performance.now() - t) / 1000;
    console.log(`loader (shuffle + crop/flip/normalize, prefetch 2): ${((k * BATCH) / sec).toFixed(0)} samples/s (${((1000 * sec) / k).toFixed(2)} ms/batch); peak RSS ${rssMB()} MB`);
    fs.rmSync(file);

    // ---- 2. JPEG decode + resize
    const jpgDir = path.join(dir, 'jpegs');
    fs.mkdirSync(jpgDir);
    t = Date.now();
    const noise = Buffer.alloc(64 * 64 * 3);
    for (let i = 0; i < images; i++) {
      crypto.randomFillSync(noise);
      // smooth random content (upscaled noise) so the JPEG sizes are realistic
      await sharp(noise, { raw: { width: 64, height: 64, channels: 3 } }).resize(256, 256, { kernel: 'cubic' }).jpeg({ quality: 85 }).toFile(path.join(jpgDir, `${String(i).padStart(5, '0')}.jpg`));
    }
    console.log(`wrote ${images} 256x256 JPEGs in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    {
      const cache = false;
      const folder = await openImageFolder('jpegs', {
        dir: jpgDir, size: [32, 32], resize: 'cover', channels: 3, labels: 'none', skip_corrupt: false, cache, extensions: ['.jpg'],
      });
      const order = new Rng(2).permutation(folder.size);
      t = performance.now();
      let n = 0;
      for (let s = 0; s + BATCH <= order.length; s += BATCH) {
        const b = await folder.read(order.slice(s, s + BATCH));
        n += b.n;
      }
      sec = (performance.now() - t) / 1000;
      console.log(`image-folder decode + resize 256x256 JPEG -> 32x32, batches of ${BATCH}: ${(n / sec).toFixed(0)} samples/s (UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}); peak RSS ${rssMB()} MB`);
    }
    console.log(`peak RSS of the whole run: ${rssMB()} MB (target < 300 MB)`);
  } finally {
    cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
