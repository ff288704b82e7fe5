/**
 * A grodd run's data, for a side-by-side implementation to train on exactly
 * what grodd trains on (bench/fidelity/train_torch.py): the run's initial
 * weights, every step's ID batch and outlier batch (or GReg+ candidate pool)
 * in grodd's order, with grodd's augmentation and learning rate, then the test
 * sets. Written to stdout as frames, each [u64 LE byte length][safetensors
 * bytes], the frame described by the JSON in its metadata key "frame":
 *   run:  the resolved config, the resolved outlier sampling, steps per epoch, and
 *         the initial weights (PyTorch names and layouts, as `grodd export` writes them);
 *   step: epoch, step, lr; tensors x_in (NHWC), y_in, x_out (absent without outliers);
 *   eval: name, role (id/ood); tensors x (NHWC), y;
 *   end.
 * Usage: node --require tsx/cjs bench/fidelity/stream.ts --config C.yaml | python3 bench/fidelity/train_torch.py --out R.json
 */
import { once } from 'node:events';
import { loadConfig } from '../../src/config/config';
import { Batch, Dataset } from '../../src/data/dataset';
import { openDataSection } from '../../src/data/section';
import { initBackend } from '../../src/engine/backend';
import { WritableTensor, encodeSafetensors } from '../../src/io/safetensors';
import { torchStateDict } from '../../src/io/torch-weights';
import { modelFor } from '../../src/cli/run-model';
import { TrainingStream } from '../../src/train/trainer';
import { arg } from '../args';

async function frame(description: Record<string, unknown>, tensors: Record<string, WritableTensor> = {}): Promise<void> {
  const bytes = encodeSafetensors(tensors, { frame: JSON.stringify(description) });
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(bytes.length));
  // Waits for the reader: a run's batches are gigabytes, never all in memory.
  if (!process.stdout.write(length) || !process.stdout.write(bytes)) await once(process.stdout, 'drain');
}

function images(b: Batch, prefix: string): Record<string, WritableTensor> {
  return {
    [`${prefix}x`]: { dtype: 'F32', shape: [b.n, ...b.shape], data: b.x },
    [`${prefix}y`]: { dtype: 'I32', shape: [b.n], data: b.y },
  };
}

async function readAll(ds: Dataset): Promise<Batch> {
  return ds.read(Array.from({ length: ds.size }, (_, i) => i));
}

async function main(): Promise<void> {
  const file = arg('config', '');
  if (!file) throw new Error('usage: stream.ts --config C.yaml');
  const cfg = loadConfig(file);
  if (cfg.model.init_from) throw new Error(`${file}: model.init_from is not followed by the side-by-side runs; start from the seeded initialisation`);
  // Only the initialisation runs on tensors, and it is drawn from the seed in JS: any backend gives the same weights.
  await initBackend('cpu');
  const data = await openDataSection(cfg.data, file, cfg.seed);
  const model = modelFor(cfg, data.idTrain);
  const stream = new TrainingStream(cfg, data);
  const weights = await torchStateDict(model);
  await frame({ kind: 'run', config: cfg, sampling: stream.sampling ?? null, steps: stream.steps, num_classes: model.numClasses, input_shape: model.inputShape }, weights);
  for (let epoch = 1; epoch <= cfg.train.epochs; epoch++) {
    let step = 0;
    for await (const { bIn, bOut, lr } of stream.epoch(epoch)) {
      await frame({ kind: 'step', epoch, step: ++step, lr }, { ...images(bIn, 'in_'), ...(bOut ? images(bOut, 'out_') : {}) });
    }
  }
  await frame({ kind: 'eval', name: data.idTest.name, role: 'id' }, images(await readAll(data.idTest), ''));
  for (const ds of data.ood) await frame({ kind: 'eval', name: ds.name, role: 'ood' }, images(await readAll(ds), ''));
  await frame({ kind: 'end' });
}

main().catch((e) => {
  // The reader closing the pipe early (it failed, or was stopped) is not this script's error.
  if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(1);
  console.error(e);
  process.exit(1);
});
