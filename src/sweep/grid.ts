import { createHash } from 'node:crypto';
import { Config, MAX_NAME, parseConfig } from '../config/config';
import { ConfigReader, describe } from '../config/reader';
import { applyOverride, keyParts, Overrides, problemOf } from '../config/overrides';
import { UserError } from '../util/errors';
import { readSlurmSection, SlurmOptions } from './slurm';

/**
 * Sweep definitions (pure: no file or process I/O besides what the caller passes in).
 *
 * A sweep file:
 *   name: lambda-sweep                 # names runs/<name>/ (letters, digits, '.', '_', '-')
 *   base: configs/quickstart.yaml      # a config file, relative to the sweep file, or an inline mapping
 *   grid:                              # cartesian product over dotted config keys
 *     train.grad_reg.weight: [0, 0.1, 1]
 *     train.grad_reg.mode: [exact, finite-difference]
 *   trials:                            # explicit extra configs, each a mapping of dotted overrides
 *     - { train.grad_reg.weight: 0, train.energy_loss.weight: 0 }
 *   seeds: [0, 1, 2]                   # every config runs once per seed (sets `seed`)
 *   slurm: { time: "4:00:00", gres: "gpu:1" }  # for --executor slurm (see src/sweep/slurm.ts)
 *
 * The configs are the grid's product (in the order of the keys, the last key varying fastest) followed by
 * the explicit trials; with neither, the base config itself. Each config runs once per seed.
 */

export interface SweepSpec {
  file: string;
  name: string;
  /** The base config: a file (resolved relative to the sweep file by the caller) or an inline mapping. */
  base: { file: string } | { inline: Record<string, unknown> };
  grid: [key: string, values: unknown[]][];
  trials: Overrides[];
  seeds?: number[];
  slurm: SlurmOptions;
}

/** One trial of a sweep: a config (overrides of the base) with one seed. */
export interface Trial {
  /** Filesystem-safe, stable id: `<config id>_seed-<seed>`, e.g. `grad_reg.weight-0.1_seed-0`. */
  id: string;
  /** The id of the config without the seed (trials differing only by seed share it); '' for the base itself. */
  configId: string;
  seed: number;
  overrides: Overrides;
  /** The resolved config (every default filled in), as `grodd train` will see it. */
  config: Config;
}

export interface ExpandedSweep {
  name: string;
  /** Every dotted key that some trial sets, in order of first appearance (grid keys first). */
  keys: string[];
  trials: Trial[];
  /** The sweep file's `slurm:` options. */
  slurm: SlurmOptions;
}

const SAFE = /^[A-Za-z0-9._-]+$/;
const MAX_ID = 150;

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parses a sweep file's YAML document. `file` prefixes every error, with the key at fault. */
export function parseSweep(raw: unknown, file: string): SweepSpec {
  const r = ConfigReader.root(raw, file);
  const fail = (where: string, msg: string): never => {
    throw new UserError(`${file}: ${where}: ${msg}`);
  };
  const name = r.string('name', defaultName(file));
  if (!SAFE.test(name)) r.fail('name', `use letters, digits, '.', '_' or '-' only (it names the sweep directory), got ${describe(name)}`);
  if (name.length > MAX_NAME) r.fail('name', `at most ${MAX_NAME} characters (it names the sweep directory), got ${name.length}`);

  let base: SweepSpec['base'];
  const rawBase = r.raw.base;
  if (typeof rawBase === 'string') base = { file: r.string('base') };
  else if (isMapping(rawBase)) base = { inline: r.object('base').raw };
  else if (rawBase === undefined || rawBase === null) r.fail('base', 'is required: a config file (relative to this sweep file) or an inline config mapping');
  else r.fail('base', `expected a config file name or an inline config mapping, got ${describe(rawBase)}`);

  const grid: SweepSpec['grid'] = [];
  const g = r.object('grid').raw;
  for (const [key, values] of Object.entries(g)) {
    const where = `grid.${key}`;
    checkKey(key, (m) => fail(where, m));
    if (isMapping(values)) fail(where, 'expected a list of values, got a mapping; write each swept key dotted on one line, e.g. `train.grad_reg.weight: [0, 1]`');
    if (!Array.isArray(values) || values.length === 0) fail(where, `expected a non-empty list of values, got ${describe(values)}`);
    const seen = new Set<string>();
    for (const [i, v] of (values as unknown[]).entries()) {
      if (v === null || v === undefined) fail(`${where}[${i}]`, 'a value is missing (null)');
      const k = canonical(v);
      if (seen.has(k)) fail(`${where}[${i}]`, `value ${JSON.stringify(v)} is listed twice`);
      seen.add(k);
    }
    grid.push([key, values as unknown[]]);
  }

  const trials: Overrides[] = [];
  const rawTrials = r.raw.trials;
  if (rawTrials !== undefined && rawTrials !== null && !Array.isArray(rawTrials)) r.fail('trials', `expected a list of mappings of dotted overrides, got ${describe(rawTrials)}`);
  for (const [i, t] of r.objectList('trials').entries()) {
    const o: Overrides = [];
    for (const [key, v] of Object.entries(t.raw)) {
      checkKey(key, (m) => fail(`trials[${i}].${key}`, m));
      if (v === null || v === undefined) fail(`trials[${i}].${key}`, 'a value is missing (null)');
      o.push([key, v]);
    }
    trials.push(o);
  }

  let seeds: number[] | undefined;
  if (r.has('seeds')) {
    seeds = r.numberList('seeds', undefined, { integer: true, min: 0 });
    if (seeds.length === 0) r.fail('seeds', 'expected at least one seed');
    if (new Set(seeds).size !== seeds.length) r.fail('seeds', `has a repeated seed: [${seeds.join(', ')}]`);
    for (const [key] of grid) if (key === 'seed') fail('grid.seed', 'set seeds with the top-level `seeds:` list, not in the grid');
    trials.forEach((t, i) => t.forEach(([key]) => key === 'seed' && fail(`trials[${i}].seed`, 'set seeds with the top-level `seeds:` list')));
  } else r.numberList('seeds', []);
  const slurm = readSlurmSection(r);
  r.done();
  return { file, name, base: base!, grid, trials, seeds, slurm };
}

function defaultName(file: string): string {
  const b = file.split(/[\\/]/).pop() ?? 'sweep';
  return b.replace(/\.ya?ml$/i, '').replace(/[^A-Za-z0-9._-]/g, '_') || 'sweep';
}

function checkKey(key: string, fail: (m: string) => never): void {
  if (key === '' || key.split('.').some((s) => s === '')) fail('expected a dotted config key such as train.grad_reg.weight');
  if (key === 'name' || key.startsWith('name.')) fail('the run name is set by the sweep (one run directory per trial); it cannot be swept');
}

/** A canonical JSON form of a YAML value (mapping keys sorted), to compare values. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isMapping(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** The value at a dotted key of a (resolved) config, or undefined. */
export function getPath(obj: unknown, key: string): unknown {
  let cur: unknown = obj;
  for (const p of keyParts(key)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/**
 * Short names for the dotted keys, used in trial ids: the shortest dotted suffix of each key that no
 * other key of the sweep ends with (`train.grad_reg.weight` -> `grad_reg.weight` next to
 * `train.energy_loss.weight`; -> `weight` alone).
 */
export function shortKeys(keys: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of keys) {
    const parts = k.split('.');
    let n = 1;
    const suffix = (key: string, m: number): string => key.split('.').slice(-m).join('.');
    while (n < parts.length && keys.some((o) => o !== k && suffix(o, n) === suffix(k, n))) n++;
    out.set(k, suffix(k, n));
  }
  return out;
}

/** A value as a filesystem-safe id part: `0.1`, `exact`, `[8,16]` -> `8x16`, `-25` -> `-25`. */
export function valueToken(v: unknown): string {
  if (Array.isArray(v)) return v.map(valueToken).join('x') || 'empty';
  if (isMapping(v)) return Object.keys(v).map((k) => `${k}-${valueToken(v[k])}`).join('.') || 'empty';
  const s = String(v).replace(/[^A-Za-z0-9.+-]+/g, '_');
  return s || '_';
}

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

function configIdOf(o: Overrides, short: Map<string, string>): string {
  let id = o.map(([k, v]) => `${short.get(k)}-${valueToken(v)}`).join('_');
  if (id.length > MAX_ID) id = `${id.slice(0, MAX_ID - 9)}-${hash(canonical(o))}`;
  return id;
}

/** The grid's cartesian product, the last key varying fastest. */
export function cartesian(grid: [string, unknown[]][]): Overrides[] {
  let out: Overrides[] = [[]];
  for (const [key, values] of grid) out = out.flatMap((o) => values.map((v): Overrides => [...o, [key, v]]));
  return grid.length ? out : [];
}

/**
 * Expands a sweep into its trials, checking every trial's config with `parseConfig` (so that a wrong
 * dotted key or value is reported with the sweep key at fault and the config path). `baseRaw` is the
 * base config's parsed YAML; `baseLabel` names it in errors (the base file, or `<sweep file>: base`).
 */
export function expandSweep(spec: SweepSpec, baseRaw: unknown, baseLabel: string): ExpandedSweep {
  const base = parseConfig(baseRaw, baseLabel); // a sweep's base must itself be a runnable config
  const baseObj = baseRaw as Record<string, unknown>;
  const whereOf = new Map<string, string>(); // canonical (key, value) -> where the sweep file sets it
  spec.grid.forEach(([key, values]) => values.forEach((v, i) => whereOf.set(canonical([key, v]), `grid.${key}[${i}]`)));
  spec.trials.forEach((t, i) => t.forEach(([key, v]) => whereOf.has(canonical([key, v])) || whereOf.set(canonical([key, v]), `trials[${i}].${key}`)));
  const apply = (raw: Record<string, unknown>, key: string, v: unknown): Record<string, unknown> =>
    applyOverride(raw, key, v, (m) => {
      throw new UserError(`${spec.file}: ${whereOf.get(canonical([key, v])) ?? key}: ${m}`);
    });
  const problem = (raw: unknown): string | undefined => problemOf(parseConfig, raw);
  /**
   * Checks one config (the base with `overrides`). A problem that one override causes on its own is
   * reported with the sweep key that sets it; one that only the combination causes, with the config.
   */
  const check = (overrides: Overrides, label: string): void => {
    let raw = baseObj;
    for (const [k, v] of overrides) raw = apply(raw, k, v);
    const p = problem(raw);
    if (p === undefined) return;
    for (const [k, v] of overrides) {
      if (problem(apply(baseObj, k, v)) === p) throw new UserError(`${spec.file}: ${whereOf.get(canonical([k, v])) ?? k} = ${JSON.stringify(v)}: in the config: ${p}`);
    }
    throw new UserError(`${spec.file}: ${label}: in the config: ${p}`);
  };

  const configs: { overrides: Overrides; where: string }[] = [
    ...cartesian(spec.grid).map((o) => ({ overrides: o, where: 'grid' })),
    ...spec.trials.map((o, i) => ({ overrides: o, where: `trials[${i}]` })),
  ];
  if (configs.length === 0) configs.push({ overrides: [], where: 'base' });
  const keys: string[] = [];
  for (const c of configs) for (const [k] of c.overrides) if (!keys.includes(k)) keys.push(k);
  const short = shortKeys(keys);
  const seeds = spec.seeds ?? [base.seed];

  const trials: Trial[] = [];
  const byId = new Map<string, string>();
  const byConfig = new Map<string, string>();
  for (const c of configs) {
    const configId = configIdOf(c.overrides, short);
    // Same overrides twice (a trial repeating a grid point): one config, listed once.
    const canon = canonical(Object.fromEntries([...c.overrides].sort(([a], [b]) => (a < b ? -1 : 1))));
    const prev = byConfig.get(canon);
    if (prev !== undefined) throw new UserError(`${spec.file}: ${c.where}: the same config as ${prev} (${configId || 'the base config'}); list each config once`);
    byConfig.set(canon, c.where);
    check(c.overrides, c.where === 'grid' ? `grid point ${configId}` : c.where);
    let raw = baseObj;
    for (const [k, v] of c.overrides) raw = apply(raw, k, v);
    for (const seed of seeds) {
      const id = configId ? `${configId}_seed-${seed}` : `seed-${seed}`;
      const other = byId.get(id);
      if (other !== undefined) throw new UserError(`${spec.file}: ${c.where} and ${other} get the same trial id ${id}; their values differ only in characters that ids drop`);
      byId.set(id, c.where);
      const withSeed = applyOverride(applyOverride(raw, 'seed', seed), 'name', `${spec.name}.${id}`.slice(0, MAX_NAME));
      const label = `${spec.file}: ${c.where === 'grid' ? `grid point ${configId}` : c.where}${spec.seeds ? ` (seed ${seed})` : ''}: in the config`;
      trials.push({ id, configId, seed, overrides: c.overrides, config: parseConfig(withSeed, label) });
    }
  }
  return { name: spec.name, keys, trials, slurm: spec.slurm };
}

/** The first dotted path where two plain YAML values differ, or undefined when they are equal. */
export function firstDifference(a: unknown, b: unknown, at = ''): string | undefined {
  if (isMapping(a) && isMapping(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference(a[k], b[k], at ? `${at}.${k}` : k);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return canonical(a) === canonical(b) ? undefined : at || '(top level)';
}

