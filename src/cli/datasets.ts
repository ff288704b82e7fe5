import * as fs from 'fs';
import * as path from 'path';
import { Command, Option } from 'commander';
import sharp from 'sharp';
import { ConfigReader, readYamlFile } from '../config/reader';
import { action } from './action';
import { formatTable } from './table';
import { Dataset, ImageShape } from '../data/dataset';
import { fetchPreset, findPreset, listPresets } from '../data/fetch';
import { openDataSection, parseDataSection } from '../data/section';
import { CHECK_MODES, CheckMode } from '../data/check';
import { runDataCheck } from './data-check';
import { dataWarnings } from '../config/warnings';
import { DatasetSpec, openDataset } from '../data/spec';
import { checkSameShapes, transformedShape } from '../data/transforms';
import { UserError } from '../util/errors';
import { Rng } from '../util/rng';
import { ensureDir } from '../io/atomic-write';

const out = (s: string): void => void process.stdout.write(s + '\n');

// ---------------------------------------------------------------- list

function isFetched(root: string, dest: string): boolean {
  return fs.existsSync(path.join(root, dest, '.grodd-fetched.json'));
}

export async function datasetsList(o: { presets: string; root: string; json?: boolean }): Promise<void> {
  const presets = listPresets(o.presets);
  if (o.json) {
    out(JSON.stringify(presets.map((p) => ({ ...p, fetched: isFetched(o.root, p.dest), path: path.join(o.root, p.dest) })), null, 2));
    return;
  }
  const w = Math.max(4, ...presets.map((p) => p.name.length));
  out(`${'name'.padEnd(w)}  ${'status'.padEnd(11)}  description`);
  for (const p of presets) {
    const status = isFetched(o.root, p.dest) ? 'fetched' : fs.existsSync(path.join(o.root, p.dest)) ? 'present' : 'not fetched';
    out(`${p.name.padEnd(w)}  ${status.padEnd(11)}  ${p.description}`);
    out(`${''.padEnd(w)}  ${''.padEnd(11)}  -> ${path.join(o.root, p.dest)}${p.expects.length ? ` (${p.expects.join(', ')})` : ''}`);
    out(`${''.padEnd(w)}  ${''.padEnd(11)}  from ${p.url}${p.md5 ? `  md5 ${p.md5}` : ''}${p.sha256 ? `  sha256 ${p.sha256}` : ''}${!p.md5 && !p.sha256 ? '  (no published checksum)' : ''}`);
  }
}

// ---------------------------------------------------------------- fetch

export async function datasetsFetch(name: string, o: { presets: string; root: string; url?: string; keep?: boolean; force?: boolean }): Promise<void> {
  const p = findPreset(o.presets, name);
  let last = 0;
  const tty = process.stderr.isTTY;
  await fetchPreset(p, {
    root: o.root,
    url: o.url,
    keep: o.keep,
    force: o.force,
    log: (l) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${l}\n`),
    progress: (done, total) => {
      const now = Date.now();
      if (!tty || now - last < 250) return;
      last = now;
      const mb = (b: number): string => (b / 1e6).toFixed(1);
      process.stderr.write(`\r\x1b[K  ${mb(done)}${total ? ` / ${mb(total)} MB (${((100 * done) / total).toFixed(0)}%)` : ' MB'}`);
    },
  });
}

// ---------------------------------------------------------------- inspect

export interface DatasetReport {
  role: string;
  name: string;
  format: string;
  size: number;
  shape: ImageShape;
  model_shape: ImageShape;
  num_classes: number;
  class_counts: Record<string, number>;
  /** Per-channel pixel mean / std in [0, 1] before transforms, over `stats_samples` samples. */
  mean: number[];
  std: number[];
  stats_samples: number;
  contact_sheet?: string;
}

function sampleIndices(size: number, k: number, seed: number, name: string): number[] {
  if (size <= k) return Array.from({ length: size }, (_, i) => i);
  return Rng.derive(seed, `inspect:${name}`).permutation(size).slice(0, k).sort((a, b) => a - b);
}

async function channelStats(ds: Dataset, indices: number[]): Promise<{ mean: number[]; std: number[] }> {
  const c = ds.shape[2];
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  let count = 0;
  for (let s = 0; s < indices.length; s += 256) {
    const b = await ds.read(indices.slice(s, s + 256));
    for (let i = 0; i < b.x.length; i++) {
      const v = b.x[i];
      sum[i % c] += v;
      sq[i % c] += v * v;
    }
    count += b.x.length / c;
  }
  const mean = Array.from(sum, (v) => v / Math.max(1, count));
  const std = Array.from(sq, (v, k) => Math.sqrt(Math.max(0, v / Math.max(1, count) - mean[k] ** 2)));
  return { mean, std };
}

/** Writes a grid of up to 64 images (pixels in [0, 1]) as a PNG, scaled up so small images stay visible. */
async function contactSheet(ds: Dataset, indices: number[], file: string): Promise<void> {
  const pick = indices.slice(0, 64);
  const b = await ds.read(pick);
  const [h, w, c] = b.shape;
  const cols = Math.min(8, pick.length);
  const rows = Math.ceil(pick.length / cols);
  const gap = 2;
  const H = rows * (h + gap) + gap;
  const W = cols * (w + gap) + gap;
  const ch = c === 1 ? 1 : 3;
  const img = Buffer.alloc(H * W * ch, 255);
  for (let n = 0; n < pick.length; n++) {
    const oy = gap + Math.floor(n / cols) * (h + gap);
    const ox = gap + (n % cols) * (w + gap);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        for (let k = 0; k < ch; k++) {
          const v = b.x[((n * h + i) * w + j) * c + Math.min(k, c - 1)];
          img[((oy + i) * W + ox + j) * ch + k] = Math.round(Math.min(1, Math.max(0, v)) * 255);
        }
      }
    }
  }
  const scale = Math.max(1, Math.min(4, Math.floor(64 / Math.max(h, w))));
  ensureDir(path.dirname(file));
  await sharp(img, { raw: { width: W, height: H, channels: ch as 1 | 3 } })
    .resize(W * scale, H * scale, { kernel: 'nearest' })
    .png()
    .toFile(file);
}

export function readDataSection(configFile: string): ReturnType<typeof parseDataSection> {
  return parseDataSection(ConfigReader.root(readYamlFile(configFile, 'config file'), configFile).object('data', true));
}

export async function inspectConfig(configFile: string, o: { out?: string; samples: number; seed: number; sheets: boolean }): Promise<{ reports: DatasetReport[]; shapeProblem?: string; outDir: string }> {
  const section = readDataSection(configFile);
  const outDir = o.out ?? path.join('runs', `inspect-${path.basename(configFile).replace(/\.(data\.)?ya?ml$/, '')}`);
  const entries: [string, DatasetSpec][] = [
    ['id.train', section.id.train],
    ['id.test', section.id.test],
    ...(section.aux ? [['aux', section.aux] as [string, DatasetSpec]] : []),
    ...section.ood.map((s, i): [string, DatasetSpec] => [`ood[${i}]`, s]),
  ];
  const reports: DatasetReport[] = [];
  for (const [role, spec] of entries) {
    const ds = await openDataset(spec);
    const labels = await ds.labels();
    const counts: Record<string, number> = {};
    for (const y of labels) counts[y] = (counts[y] ?? 0) + 1;
    const idx = sampleIndices(ds.size, o.samples, o.seed, `${role}:${spec.name}`);
    const { mean, std } = await channelStats(ds, idx);
    const rep: DatasetReport = {
      role,
      name: spec.name,
      format: spec.format,
      size: ds.size,
      shape: ds.shape,
      model_shape: transformedShape(ds.shape, spec.transforms ?? [], `${configFile}: data.${role}.transforms`),
      num_classes: ds.numClasses,
      class_counts: counts,
      mean,
      std,
      stats_samples: idx.length,
    };
    if (o.sheets) {
      rep.contact_sheet = path.join(outDir, `${role.replace(/[^\w.-]+/g, '')}-${spec.name.replace(/[^\w.-]+/g, '_')}.png`);
      await contactSheet(ds, idx, rep.contact_sheet);
    }
    reports.push(rep);
  }
  let shapeProblem: string | undefined;
  try {
    checkSameShapes(entries.map(([, s], i) => ({ name: s.name, shape: reports[i].shape, transforms: s.transforms })));
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    shapeProblem = e.message;
  }
  ensureDir(outDir);
  fs.writeFileSync(path.join(outDir, 'summary.json'), JSON.stringify({ config: configFile, datasets: reports, shape_problem: shapeProblem ?? null }, null, 2) + '\n');
  return { reports, shapeProblem, outDir };
}

function printReports(reports: DatasetReport[]): void {
  const f = (v: number[]): string => v.map((x) => x.toFixed(4)).join(', ');
  const rows = reports.map((r) => [
    r.role,
    r.name,
    r.format,
    String(r.size),
    r.shape.join('x'),
    r.model_shape.join('x'),
    r.num_classes ? String(r.num_classes) : '-',
    `[${f(r.mean)}]`,
    `[${f(r.std)}]`,
  ]);
  out(formatTable(['role', 'name', 'format', 'size', 'shape', 'to model', 'classes', 'mean', 'std'], rows));
  out('');
  for (const r of reports) {
    const keys = Object.keys(r.class_counts).map(Number).sort((a, b) => a - b);
    const counts = keys.map((k) => (k < 0 ? `unlabelled:${r.class_counts[k]}` : `${k}:${r.class_counts[k]}`)).join(' ');
    out(`${r.role} ${r.name}: ${counts}${r.contact_sheet ? `  (samples: ${r.contact_sheet})` : ''}`);
  }
}

// ---------------------------------------------------------------- registration

export function registerDatasets(program: Command): void {
  const cmd = program.command('datasets').description('benchmark datasets: presets, download, inspection');
  cmd
    .command('list')
    .description('list the dataset presets (datasets/*.yaml): source, checksum, where the files go, whether fetched')
    .option('--presets <dir>', 'folder of preset YAML files', 'datasets')
    .option('--root <dir>', 'datasets root the presets unpack under', 'datasets')
    .option('--json', 'print JSON')
    .action(action(async (o: { presets: string; root: string; json?: boolean }) => datasetsList(o)));
  cmd
    .command('fetch <name>')
    .description("download a preset's official file, verify its checksum, and unpack it under the datasets root")
    .option('--url <url>', "download from this URL instead of the preset's (a mirror)")
    .option('--presets <dir>', 'folder of preset YAML files', 'datasets')
    .option('--root <dir>', 'datasets root to unpack under', 'datasets')
    .option('--keep', 'keep the downloaded archive (in <root>/.downloads) after unpacking')
    .option('--force', 'fetch again even if already fetched')
    .action(action(async (name: string, o: { presets: string; root: string; url?: string; keep?: boolean; force?: boolean }) => datasetsFetch(name, o)));
  cmd
    .command('check')
    .description("check every dataset of a config's data section as training does before its first step: labels, every image readable, every pixel finite")
    .requiredOption('--config <file>', 'config file with a data: section')
    .addOption(new Option('--mode <mode>', 'every sample, or a seeded sample of each set (default: the config\'s data.check)').choices(CHECK_MODES))
    .action(
      action(async (o: { config: string; mode?: CheckMode }) => {
        const section = readDataSection(o.config);
        const data = await openDataSection(section, o.config);
        for (const w of dataWarnings(section, data)) process.stderr.write(`grodd: warning: ${w}\n`);
        await runDataCheck(section, data, o.mode);
      }),
    );
  cmd
    .command('inspect')
    .description("sizes, shapes, class counts and per-channel pixel mean/std of each dataset in a config's data section, with PNG contact sheets")
    .requiredOption('--config <file>', 'config file with a data: section')
    .option('--out <dir>', 'folder for the contact sheets and summary.json (default runs/inspect-<config name>)')
    .option('--samples <n>', 'samples per dataset for the pixel statistics', '2000')
    .option('--seed <n>', 'seed choosing those samples', '0')
    .option('--no-sheets', 'skip the contact sheets')
    .option('--json', 'print the summary as JSON')
    .action(
      action(async (o: { config: string; out?: string; samples: string; seed: string; sheets: boolean; json?: boolean }) => {
        const samples = Number(o.samples);
        const seed = Number(o.seed);
        if (!Number.isInteger(samples) || samples < 1) throw new UserError(`--samples: expected a positive integer, got ${o.samples}`);
        if (!Number.isInteger(seed) || seed < 0) throw new UserError(`--seed: expected a non-negative integer, got ${o.seed}`);
        const res = await inspectConfig(o.config, { out: o.out, samples, seed, sheets: o.sheets });
        if (o.json) out(JSON.stringify({ datasets: res.reports, shape_problem: res.shapeProblem ?? null }, null, 2));
        else printReports(res.reports);
        if (res.shapeProblem) process.stderr.write(`grodd: warning: ${res.shapeProblem}\n`);
        if (!o.json) out(`summary: ${path.join(res.outDir, 'summary.json')}`);
      }),
    );
}
