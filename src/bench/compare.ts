import { UserError } from '../util/errors';

/**
 * Benchmark results against a stored baseline (pure). A baseline file (bench/baseline.json) holds, per
 * metric, the reference value, which direction is better and the tolerance of a regression:
 *
 *   "energy/average/auroc": { "value": 0.81, "better": "higher", "abs_tol": 0.03 }
 *   "wall_seconds":         { "value": 21.5, "better": "lower",  "rel_tol": 1.0 }
 *
 * Allowed slack = max(abs_tol, rel_tol * |value|). A metric is a regression when it is worse than the
 * baseline by more than the slack (lower for `higher`, higher for `lower`); better by more than the
 * slack is reported as "improved" (a pass; consider --update-baseline); a baseline metric missing
 * from the result is a regression too; a result metric the baseline lacks is "new" (a pass).
 */

export type Better = 'higher' | 'lower';

export interface Tolerance {
  better: Better;
  abs_tol?: number;
  rel_tol?: number;
}

export interface BaselineEntry extends Tolerance {
  value: number;
}

export interface Baseline {
  schema: 1;
  /** The benchmark config the baseline was made with. */
  config: string;
  created: string;
  /** Where it was made (backend, versions, machine), for the reader. */
  environment: Record<string, unknown>;
  metrics: Record<string, BaselineEntry>;
}

export type CompareStatus = 'pass' | 'improved' | 'regression' | 'missing' | 'new';

export interface ComparisonRow {
  key: string;
  baseline?: number;
  value?: number;
  /** value - baseline. */
  delta?: number;
  /** The worst value still accepted. */
  limit?: number;
  better?: Better;
  status: CompareStatus;
}

/** Default tolerances by metric name (the last `/` part of `<score>/<set>/<metric>`). */
export function defaultTolerance(key: string): Tolerance {
  const m = key.split('/').pop()!;
  if (m === 'fpr95') return { better: 'lower', abs_tol: 0.05 };
  if (m === 'auroc' || m === 'aupr_in' || m === 'aupr_out') return { better: 'higher', abs_tol: 0.03 };
  if (m === 'id_accuracy') return { better: 'higher', abs_tol: 0.02 };
  if (m.endsWith('seconds')) return { better: 'lower', rel_tol: 1.0 };
  return { better: 'higher', abs_tol: 0 };
}

export function slack(e: BaselineEntry): number {
  return Math.max(e.abs_tol ?? 0, (e.rel_tol ?? 0) * Math.abs(e.value));
}

/** Compares every metric of the baseline (and lists the result's extra ones as new). */
export function compare(result: Record<string, number>, baseline: Baseline): { rows: ComparisonRow[]; regressions: number } {
  const rows: ComparisonRow[] = [];
  for (const [key, e] of Object.entries(baseline.metrics)) {
    const value = result[key];
    const s = slack(e);
    const limit = e.better === 'higher' ? e.value - s : e.value + s;
    if (value === undefined || !Number.isFinite(value)) {
      rows.push({ key, baseline: e.value, value, limit, better: e.better, status: 'missing' });
      continue;
    }
    const worse = e.better === 'higher' ? value < limit : value > limit;
    const improved = e.better === 'higher' ? value > e.value + s : value < e.value - s;
    rows.push({ key, baseline: e.value, value, delta: value - e.value, limit, better: e.better, status: worse ? 'regression' : improved ? 'improved' : 'pass' });
  }
  for (const [key, value] of Object.entries(result)) {
    if (!(key in baseline.metrics)) rows.push({ key, value, status: 'new' });
  }
  return { rows, regressions: rows.filter((r) => r.status === 'regression' || r.status === 'missing').length };
}

/** A baseline of `result`, keeping the tolerances (and directions) of `previous` for the metrics it had. */
export function makeBaseline(result: Record<string, number>, o: { config: string; created: string; environment: Record<string, unknown> }, previous?: Baseline): Baseline {
  const metrics: Record<string, BaselineEntry> = {};
  for (const [key, value] of Object.entries(result)) {
    const prev = previous?.metrics[key];
    const tol: Tolerance = prev ? { better: prev.better, abs_tol: prev.abs_tol, rel_tol: prev.rel_tol } : defaultTolerance(key);
    metrics[key] = { value, better: tol.better, ...(tol.abs_tol !== undefined ? { abs_tol: tol.abs_tol } : {}), ...(tol.rel_tol !== undefined ? { rel_tol: tol.rel_tol } : {}) };
  }
  return { schema: 1, config: o.config, created: o.created, environment: o.environment, metrics };
}

/** Checks a parsed baseline file; errors name the file and the key. */
export function parseBaseline(raw: unknown, file: string): Baseline {
  const fail = (where: string, m: string): never => {
    throw new UserError(`${file}: ${where}: ${m}`);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${file}: expected a JSON object`);
  const b = raw as Record<string, unknown>;
  if (b.schema !== 1) fail('schema', `expected 1, got ${JSON.stringify(b.schema)}`);
  const metrics = b.metrics;
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) fail('metrics', 'expected an object of metric entries');
  for (const [key, e] of Object.entries(metrics as Record<string, unknown>)) {
    const w = `metrics["${key}"]`;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) fail(w, 'expected {value, better, abs_tol or rel_tol}');
    const x = e as Record<string, unknown>;
    if (typeof x.value !== 'number' || !Number.isFinite(x.value)) fail(`${w}.value`, `expected a number, got ${JSON.stringify(x.value)}`);
    if (x.better !== 'higher' && x.better !== 'lower') fail(`${w}.better`, `expected "higher" or "lower", got ${JSON.stringify(x.better)}`);
    for (const t of ['abs_tol', 'rel_tol']) {
      if (x[t] !== undefined && (typeof x[t] !== 'number' || !((x[t] as number) >= 0))) fail(`${w}.${t}`, `expected a number >= 0, got ${JSON.stringify(x[t])}`);
    }
    for (const k of Object.keys(x)) if (!['value', 'better', 'abs_tol', 'rel_tol'].includes(k)) fail(`${w}.${k}`, 'unknown key; known: value, better, abs_tol, rel_tol');
  }
  return {
    schema: 1,
    config: typeof b.config === 'string' ? b.config : '',
    created: typeof b.created === 'string' ? b.created : '',
    environment: b.environment && typeof b.environment === 'object' ? (b.environment as Record<string, unknown>) : {},
    metrics: metrics as Record<string, BaselineEntry>,
  };
}
