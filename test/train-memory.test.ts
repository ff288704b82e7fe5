/**
 * No tensor outlives its use: through training steps and epochs (GReg+ with
 * SGD momentum and with Adam), evaluation, checkpoint save and reload, a
 * PyTorch state_dict round trip and a resumed run, the engine holds exactly
 * the model's weights and the optimizer's state between epochs, and the
 * backend's buffers stay the same in number.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseConfig } from '../src/config/config';
import { ArrayDataset } from '../src/data/dataset';
import { useBackend } from '../src/engine/backend';
import { evaluateModel } from '../src/eval/evaluate';
import { loadCheckpointWeights, loadOptimizerState, saveCheckpoint } from '../src/io/checkpoint';
import { loadTorchStateDict, torchStateDict } from '../src/io/torch-weights';
import { namedTensors } from '../src/models/model';
import { SmallCnn } from '../src/models/small-cnn';
import { train } from '../src/train/trainer';
import { Rng } from '../src/util/rng';
import { TEST_BACKEND } from './test-backend';

before(async () => {
  await useBackend(TEST_BACKEND, { wasmThreads: 1 });
});

function images(name: string, n: number, classes: number, seed: number): ArrayDataset {
  const rng = new Rng(seed);
  return new ArrayDataset(name, [8, 8, 1], Float32Array.from({ length: n * 64 }, () => rng.next()), Int32Array.from({ length: n }, (_, i) => (classes ? i % classes : -1)), classes);
}

const counts = () => ({ tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds() });

for (const optimizer of [{ name: 'sgd' }, { name: 'adam' }]) {
  test(`${optimizer.name}: tensors and buffers stay constant across steps, epochs, evaluation, checkpoint reloads and a resume`, async () => {
    const config = (epochs: number) =>
      parseConfig(
        {
          data: { id: { train: { format: 'synthetic' }, test: { format: 'synthetic' } }, ood: [] },
          model: { arch: 'small-cnn', channels: [4, 8], strides: [2, 2] },
          train: { method: 'greg+', epochs, batch_size: 4, lr: 0.01, optimizer, margins: { mode: 'fixed', m_in: -1.2, m_out: -1 }, sampling: { pool_size: 12, clusters: 2 } },
          eval: { batch_size: 8 },
        },
        'memory.yaml',
      );
    const cfg = config(3);
    const data = { idTrain: images('id', 16, 3, 1), aux: images('aux', 24, 0, 2) };
    const idTest = images('id-test', 8, 3, 3);
    const ood = [images('ood', 8, 0, 4)];
    const model = new SmallCnn([8, 8, 1], 3, { channels: [4, 8], strides: [2, 2] }, new Rng(0));
    const weights = namedTensors(model).size;
    assert.equal(counts().tensors, weights, 'a new model holds its weights only');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grodd-memory-'));
    const base = path.join(dir, 'epoch-0001');
    const seen: { tensors: number; buffers: number }[] = [];
    try {
      await train(cfg, model, data, {
        onEpochEnd: async (row, state) => {
          seen.push(counts());
          assert.equal(seen.at(-1)!.tensors, weights + state.optimizer.state().size, `epoch ${row.epoch}: the weights and the optimizer state only`);
          await evaluateModel(model, { idTrain: data.idTrain, idTest, ood: ood.map((dataset) => ({ dataset })) }, cfg.eval, { seed: cfg.seed });
          await saveCheckpoint(base, model, { arch: model.arch, num_classes: 3, input_shape: [8, 8, 1], epoch: row.epoch, backend: TEST_BACKEND, margins: { m_in: -1.2, m_out: -1 } }, state.optimizer.state());
          await loadCheckpointWeights(base, model);
          const sd = await torchStateDict(model);
          loadTorchStateDict(model, sd, { source: 'round trip' });
        },
      });
      // Resumed from the last checkpoint: one more epoch.
      await train(config(4), model, data, { onEpochEnd: async () => void seen.push(counts()) }, { epoch: 3, margins: { mIn: -1.2, mOut: -1 }, optimizerState: await loadOptimizerState(base) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(seen.length, 4);
    for (const [i, c] of seen.entries()) assert.deepEqual(c, seen[0], `after epoch ${i + 1}: ${JSON.stringify(c)} vs ${JSON.stringify(seen[0])} after epoch 1`);
    tf.dispose([...namedTensors(model).values()]);
    assert.equal(tf.memory().numTensors, 0, 'train() frees its optimizer state when it returns');
  });
}
