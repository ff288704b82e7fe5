import { pointAtRecall, RecallPoint, rocPoints, RocPoints } from '../eval/metrics';
import { formatEpsilon } from '../eval/robust';

/**
 * Pure SVG builders for run reports: score histograms (ID vs an OOD set, with the FPR95 threshold),
 * ROC curves per OOD set, and training curves from train_log.csv. Every figure is a standalone SVG
 * document with a white background and `font-family="sans-serif"` (rendered to PNG by png.ts).
 */

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const ID_COLOR = '#1f77b4';
const OOD_COLOR = '#ff7f0e';

/** Space around a panel's plot area, in SVG units: axis labels and ticks live there. */
export const MARGIN = { left: 64, right: 20, top: 40, bottom: 52 };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const r2 = (x: number): string => (Math.round(x * 100) / 100).toString();

/** Round tick values covering [min, max] (about `count` of them). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  // Multiples of the step, each computed afresh and rounded (no accumulated floating-point drift).
  for (let k = Math.ceil(min / step - 1e-9); k * step <= max + step * 1e-9; k++) out.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return out;
}

export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(4)).toString();
}

/** A plot area at (x, y) of the document with data ranges; maps data to SVG coordinates. */
export class Panel {
  readonly parts: string[] = [];
  constructor(
    readonly x: number,
    readonly y: number,
    readonly w: number,
    readonly h: number,
    readonly xr: [number, number],
    readonly yr: [number, number],
  ) {}

  sx(v: number): number {
    const [a, b] = this.xr;
    return this.x + (b === a ? 0.5 : (v - a) / (b - a)) * this.w;
  }

  sy(v: number): number {
    const [a, b] = this.yr;
    return this.y + this.h - (b === a ? 0.5 : (v - a) / (b - a)) * this.h;
  }

  /** Frame, grid lines, ticks, axis labels and title. */
  axes(o: { title?: string; titleY?: number; xlabel?: string; ylabel?: string; xticks?: number[]; yticks?: number[]; xfmt?: (v: number) => string; yfmt?: (v: number) => string }): void {
    const xt = o.xticks ?? niceTicks(this.xr[0], this.xr[1], Math.max(2, Math.round(this.w / 90)));
    const yt = o.yticks ?? niceTicks(this.yr[0], this.yr[1], Math.max(2, Math.round(this.h / 60)));
    const xf = o.xfmt ?? formatTick;
    const yf = o.yfmt ?? formatTick;
    const p = this.parts;
    p.push(`<g class="grid" stroke="#e5e5e5" stroke-width="1">`);
    for (const v of xt) if (v >= this.xr[0] && v <= this.xr[1]) p.push(`<line x1="${r2(this.sx(v))}" y1="${this.y}" x2="${r2(this.sx(v))}" y2="${this.y + this.h}"/>`);
    for (const v of yt) if (v >= this.yr[0] && v <= this.yr[1]) p.push(`<line x1="${this.x}" y1="${r2(this.sy(v))}" x2="${this.x + this.w}" y2="${r2(this.sy(v))}"/>`);
    p.push('</g>');
    p.push(`<rect class="frame" x="${this.x}" y="${this.y}" width="${this.w}" height="${this.h}" fill="none" stroke="#333" stroke-width="1"/>`);
    p.push(`<g class="ticks" font-size="12" fill="#333">`);
    for (const v of xt) if (v >= this.xr[0] && v <= this.xr[1]) p.push(`<text x="${r2(this.sx(v))}" y="${this.y + this.h + 17}" text-anchor="middle">${escapeXml(xf(v))}</text>`);
    for (const v of yt) if (v >= this.yr[0] && v <= this.yr[1]) p.push(`<text x="${this.x - 6}" y="${r2(this.sy(v) + 4)}" text-anchor="end">${escapeXml(yf(v))}</text>`);
    p.push('</g>');
    if (o.xlabel) p.push(`<text x="${r2(this.x + this.w / 2)}" y="${this.y + this.h + 38}" text-anchor="middle" font-size="13" fill="#111">${escapeXml(o.xlabel)}</text>`);
    if (o.ylabel) {
      const cx = this.x - 48;
      const cy = r2(this.y + this.h / 2);
      p.push(`<text x="${cx}" y="${cy}" transform="rotate(-90 ${cx} ${cy})" text-anchor="middle" font-size="13" fill="#111">${escapeXml(o.ylabel)}</text>`);
    }
    if (o.title) p.push(`<text x="${r2(this.x + this.w / 2)}" y="${o.titleY ?? this.y - 12}" text-anchor="middle" font-size="15" font-weight="bold" fill="#111">${escapeXml(o.title)}</text>`);
  }

  /** A line through the points (in data units), with optional markers. */
  line(xs: ArrayLike<number>, ys: ArrayLike<number>, color: string, o: { width?: number; dash?: string; markers?: boolean; cls?: string; opacity?: number } = {}): void {
    if (xs.length === 0) return;
    const pts: string[] = [];
    let lx = NaN;
    let ly = NaN;
    for (let i = 0; i < xs.length; i++) {
      const px = this.sx(xs[i]);
      const py = this.sy(ys[i]);
      // Drop points closer than a quarter pixel to the previous one (long ROC curves).
      if (i > 0 && i < xs.length - 1 && Math.abs(px - lx) < 0.25 && Math.abs(py - ly) < 0.25) continue;
      pts.push(`${r2(px)},${r2(py)}`);
      lx = px;
      ly = py;
    }
    const cls = o.cls ? ` class="${o.cls}"` : '';
    const opacity = o.opacity !== undefined ? ` stroke-opacity="${o.opacity}"` : '';
    this.parts.push(`<polyline${cls} points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="${o.width ?? 2}"${opacity}${o.dash ? ` stroke-dasharray="${o.dash}"` : ''} stroke-linejoin="round"/>`);
    if (o.markers) this.points(xs, ys, color);
  }

  /** Dots at the points (in data units). */
  points(xs: ArrayLike<number>, ys: ArrayLike<number>, color: string, cls?: string): void {
    for (let i = 0; i < xs.length; i++) this.parts.push(`<circle${cls ? ` class="${cls}"` : ''} cx="${r2(this.sx(xs[i]))}" cy="${r2(this.sy(ys[i]))}" r="3.5" fill="${color}"/>`);
  }

  /**
   * A legend box in the plot area's corner ('tr' top right, 'tl', 'br', 'bl'), or 'above' the plot area
   * (left-aligned, ending 6 units above it: reserve {@link legendHeight} for it in the top margin).
   */
  legend(items: LegendItem[], corner: 'tr' | 'tl' | 'br' | 'bl' | 'above' = 'tr'): void {
    if (!items.length) return;
    const lh = LEGEND_LINE;
    const width = Math.min(this.w - (corner === 'above' ? 0 : 16), 36 + 7.2 * Math.max(...items.map((i) => i.label.length)));
    const height = legendHeight(items.length);
    const x = corner === 'above' ? this.x : corner.endsWith('r') ? this.x + this.w - width - 8 : this.x + 8;
    const y = corner === 'above' ? this.y - height - 6 : corner.startsWith('t') ? this.y + 8 : this.y + this.h - height - 8;
    const p = this.parts;
    p.push(`<g class="legend" font-size="12"><rect x="${r2(x)}" y="${r2(y)}" width="${r2(width)}" height="${height}" fill="white" fill-opacity="0.85" stroke="#bbb"/>`);
    items.forEach((it, i) => {
      const cy = y + 4 + lh * i + lh / 2;
      if (it.kind === 'box') p.push(`<rect x="${r2(x + 8)}" y="${r2(cy - 6)}" width="18" height="12" fill="${it.color}" fill-opacity="0.5" stroke="${it.color}"/>`);
      else p.push(`<line x1="${r2(x + 6)}" y1="${r2(cy)}" x2="${r2(x + 28)}" y2="${r2(cy)}" stroke="${it.color}" stroke-width="2"${it.kind === 'dash' ? ' stroke-dasharray="5,3"' : it.kind === 'dot' ? ' stroke-dasharray="2,3"' : ''}/>`);
      p.push(`<text x="${r2(x + 34)}" y="${r2(cy + 4)}" fill="#111">${escapeXml(it.label)}</text>`);
    });
    p.push('</g>');
  }
}

export interface LegendItem {
  label: string;
  color: string;
  kind?: 'line' | 'box' | 'dash' | 'dot';
}

const LEGEND_LINE = 18;
/** Height of a legend box of `n` items. */
export const legendHeight = (n: number): number => n * LEGEND_LINE + 8;

export function svgDocument(width: number, height: number, body: string[]): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`
  );
}

// ---------------------------------------------------------------------------------------------------
// FPR95 threshold

/** The FPR95 operating point (see pointAtRecall in eval/metrics.ts). */
export type Fpr95Point = RecallPoint;

/** The ROC point and score threshold that `fpr95` reports. */
export function fpr95Point(idScores: ArrayLike<number>, oodScores: ArrayLike<number>, roc: RocPoints = rocPoints(idScores, oodScores)): Fpr95Point {
  return pointAtRecall(roc, 0.95);
}

// ---------------------------------------------------------------------------------------------------
// Histogram

export interface HistogramInput {
  score: string;
  id: { name: string; scores: ArrayLike<number> };
  ood: { name: string; scores: ArrayLike<number> };
  /** The FPR95 threshold (fpr95Point); drawn as a vertical line when given. */
  threshold?: Fpr95Point;
  /**
   * The energy margins the model was trained with (energy score only): L_S pushes ID energies below
   * m_in and outlier energies above m_out, i.e. scores (−E) above −m_in and below −m_out; drawn there.
   */
  margins?: { mIn: number; mOut: number };
  bins?: number;
  width?: number;
  height?: number;
  /** Data range of the x axis; by default the range of all scores and the threshold, padded 2%. */
  xRange?: [number, number];
  title?: string;
  /** The x axis label; by default `<score> score (higher = more ID)`. */
  xlabel?: string;
}

/** Counts per bin over [lo, hi] (values outside are clamped into the end bins), normalised to a density. */
export function binDensity(scores: ArrayLike<number>, lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const w = (hi - lo) / bins || 1;
  for (let i = 0; i < scores.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((scores[i] - lo) / w)));
    counts[b]++;
  }
  return counts.map((c) => c / (scores.length * w));
}

function extent(...sets: ArrayLike<number>[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of sets) for (let i = 0; i < s.length; i++) {
    if (s[i] < lo) lo = s[i];
    if (s[i] > hi) hi = s[i];
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.02;
  return [lo - pad, hi + pad];
}

/** ID vs one OOD set's score distributions (densities on shared bins), with the FPR95 threshold line. */
export function histogramSvg(o: HistogramInput): string {
  const width = o.width ?? 640;
  const height = o.height ?? 420;
  const bins = o.bins ?? 40;
  const [lo, hi] = o.xRange ?? extent(o.id.scores, o.ood.scores, o.threshold ? [o.threshold.threshold] : [], o.margins ? [-o.margins.mIn, -o.margins.mOut] : []);
  const dId = binDensity(o.id.scores, lo, hi, bins);
  const dOod = binDensity(o.ood.scores, lo, hi, bins);
  const ymax = Math.max(...dId, ...dOod) * 1.08 || 1;
  // The legend sits between the title and the plot, where it hides no bar.
  const top = MARGIN.top + legendHeight(2 + (o.threshold ? 1 : 0) + (o.margins ? 2 : 0)) + 6;
  const p = new Panel(MARGIN.left, top, width - MARGIN.left - MARGIN.right, height - top - MARGIN.bottom, [lo, hi], [0, ymax]);
  p.axes({ title: o.title ?? `${o.score} score: ID vs ${o.ood.name}`, titleY: MARGIN.top - 12, xlabel: o.xlabel ?? `${o.score} score (higher = more ID)`, ylabel: 'density' });
  const bw = (hi - lo) / bins;
  const bars = (d: number[], color: string, cls: string): void => {
    // One outlined step shape per set, filled translucently so that overlaps stay visible.
    let path = `M${r2(p.sx(lo))},${r2(p.sy(0))}`;
    d.forEach((v, i) => {
      path += ` L${r2(p.sx(lo + i * bw))},${r2(p.sy(v))} L${r2(p.sx(lo + (i + 1) * bw))},${r2(p.sy(v))}`;
    });
    path += ` L${r2(p.sx(hi))},${r2(p.sy(0))} Z`;
    p.parts.push(`<path class="${cls}" d="${path}" fill="${color}" fill-opacity="0.4" stroke="${color}" stroke-width="1.5"/>`);
  };
  bars(dId, ID_COLOR, 'hist-id');
  bars(dOod, OOD_COLOR, 'hist-ood');
  const items: LegendItem[] = [
    { label: `ID: ${o.id.name} (n=${o.id.scores.length})`, color: ID_COLOR, kind: 'box' },
    { label: `OOD: ${o.ood.name} (n=${o.ood.scores.length})`, color: OOD_COLOR, kind: 'box' },
  ];
  if (o.threshold) {
    const t = o.threshold;
    const x = r2(p.sx(t.threshold));
    p.parts.push(`<line class="threshold" data-threshold="${t.threshold}" x1="${x}" y1="${p.y}" x2="${x}" y2="${p.y + p.h}" stroke="#111" stroke-width="2" stroke-dasharray="6,4"/>`);
    items.push({ label: `FPR95 threshold ${formatTick(t.threshold)}: TPR ${(100 * t.tpr).toFixed(1)}%, FPR ${(100 * t.fpr).toFixed(1)}%`, color: '#111', kind: 'dash' });
  }
  if (o.margins) {
    const m = o.margins;
    for (const [cls, v, color] of [['margin-in', -m.mIn, ID_COLOR], ['margin-out', -m.mOut, OOD_COLOR]] as const) {
      const x = r2(p.sx(v));
      p.parts.push(`<line class="${cls}" data-score="${v}" x1="${x}" y1="${p.y}" x2="${x}" y2="${p.y + p.h}" stroke="${color}" stroke-width="2" stroke-dasharray="2,3"/>`);
    }
    items.push(
      { label: `m_in = ${formatTick(m.mIn)}: ID trained to score above ${formatTick(-m.mIn)}`, color: ID_COLOR, kind: 'dot' },
      { label: `m_out = ${formatTick(m.mOut)}: outliers trained below ${formatTick(-m.mOut)}`, color: OOD_COLOR, kind: 'dot' },
    );
  }
  p.legend(items, 'above');
  return svgDocument(width, height, p.parts);
}

// ---------------------------------------------------------------------------------------------------
// ROC curves

export interface RocCurveInput {
  name: string;
  roc: RocPoints;
  auroc: number;
  /** Marked with a dot when given. */
  fpr95?: Fpr95Point;
}

/** ROC curves (FPR on the x axis, TPR on the y axis, ID positive), one per OOD set, with the TPR = 95% line. */
export function rocSvg(curves: RocCurveInput[], o: { score: string; width?: number; height?: number; title?: string }): string {
  const width = o.width ?? 520;
  const height = o.height ?? 500;
  const p = new Panel(MARGIN.left, MARGIN.top, width - MARGIN.left - MARGIN.right, height - MARGIN.top - MARGIN.bottom, [0, 1], [0, 1]);
  const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1];
  p.axes({ title: o.title ?? `ROC, ${o.score} score`, xlabel: 'false positive rate (OOD called ID)', ylabel: 'true positive rate (ID recall)', xticks: ticks, yticks: ticks });
  p.line([0, 1], [0, 1], '#999', { width: 1, dash: '4,4', cls: 'chance' });
  p.line([0, 1], [0.95, 0.95], '#999', { width: 1, dash: '2,3', cls: 'tpr95' });
  const items: LegendItem[] = [];
  curves.forEach((c, i) => {
    const color = PALETTE[(i + 1) % PALETTE.length];
    const n = c.roc.tps.length;
    const xs = new Float64Array(n + 1);
    const ys = new Float64Array(n + 1);
    for (let k = 0; k < n; k++) {
      xs[k + 1] = c.roc.fps[k] / c.roc.nNeg;
      ys[k + 1] = c.roc.tps[k] / c.roc.nPos;
    }
    p.line(xs, ys, color, { cls: 'roc' });
    if (c.fpr95) p.parts.push(`<circle class="fpr95" cx="${r2(p.sx(c.fpr95.fpr))}" cy="${r2(p.sy(c.fpr95.tpr))}" r="4.5" fill="white" stroke="${color}" stroke-width="2"/>`);
    items.push({ label: `${c.name}: AUROC ${(100 * c.auroc).toFixed(1)}%${c.fpr95 ? `, FPR95 ${(100 * c.fpr95.fpr).toFixed(1)}%` : ''}`, color });
  });
  p.legend(items, 'br');
  return svgDocument(width, height, p.parts);
}

// ---------------------------------------------------------------------------------------------------
// Robust curves

export interface RobustCurve {
  /** The run. */
  name: string;
  epsilons: number[];
  /** Fractions, one per budget. */
  auroc: number[];
  fpr95: number[];
}

/** AUROC and FPR95 (%) against the attack budget ε, one line per run, side by side. */
export function robustCurvesSvg(curves: RobustCurve[], o: { score: string; set: string; title?: string }): string {
  const pw = 360;
  const ph = 260;
  const top = MARGIN.top + legendHeight(curves.length) + 36;
  const width = 2 * (MARGIN.left + pw + MARGIN.right);
  const height = top + ph + MARGIN.bottom;
  const eps = [...new Set(curves.flatMap((c) => c.epsilons))].sort((a, b) => a - b);
  const xr: [number, number] = eps.length > 1 ? [eps[0], eps[eps.length - 1]] : [0, Math.max(eps[0] ?? 1, 1e-6)];
  const parts: string[] = [`<text x="${width / 2}" y="24" text-anchor="middle" font-size="17" font-weight="bold" fill="#111">${escapeXml(o.title ?? `${o.score} under attack (${o.set})`)}</text>`];
  const panels = [
    { key: 'auroc' as const, title: 'AUROC (%) ↑', x: MARGIN.left },
    { key: 'fpr95' as const, title: 'FPR95 (%) ↓', x: MARGIN.left + pw + MARGIN.right + MARGIN.left },
  ];
  for (const [j, pn] of panels.entries()) {
    const p = new Panel(pn.x, top, pw, ph, xr, [0, 100]);
    // Panel titles above the legend, which sits between them and the plot areas.
    p.axes({ title: pn.title, titleY: top - legendHeight(curves.length) - 18, xlabel: 'attack budget ε (L∞, [0,1] pixels)', ylabel: '%', xticks: eps, xfmt: formatEpsilon, yticks: [0, 20, 40, 60, 80, 100] });
    curves.forEach((c, i) => p.line(c.epsilons, c[pn.key].map((v) => 100 * v), PALETTE[i % PALETTE.length], { markers: true, cls: `robust-${pn.key}` }));
    if (j === 0) p.legend(curves.map((c, i) => ({ label: c.name, color: PALETTE[i % PALETTE.length] })), 'above');
    parts.push(...p.parts);
  }
  return svgDocument(width, height, parts);
}

// ---------------------------------------------------------------------------------------------------
// Training curves

/** One row of train_log.csv (NaN or undefined where a column is empty or absent). */
export interface TrainLogRow {
  epoch: number;
  loss: number;
  ce: number;
  energy: number;
  grad_reg: number;
  oe?: number;
  train_acc: number;
  lr?: number;
  /** Margins in force; NaN during warm-up epochs. */
  m_in?: number;
  m_out?: number;
  val_auroc?: number;
}

/** One row of train_steps.csv: its position in epochs (epoch − 1 + step / steps) and its values. */
export interface TrainStepRow {
  x: number;
  values: Partial<Record<'loss' | 'ce' | 'energy' | 'grad_reg' | 'oe' | 'lr', number>>;
}

type CurveKey = 'loss' | 'ce' | 'energy' | 'grad_reg' | 'oe' | 'train_acc' | 'val_auroc' | 'lr';

/** `end`: a value at the end of its epoch (validation, the last step's lr); the others are means over the epoch. */
const CURVES: { key: CurveKey; title: string; scale?: number; margins?: boolean; end?: boolean }[] = [
  { key: 'loss', title: 'total loss L' },
  { key: 'ce', title: 'cross-entropy L_CE' },
  { key: 'energy', title: 'energy margin loss L_S', margins: true },
  { key: 'grad_reg', title: 'gradient regularizer L_∇S', margins: true },
  { key: 'oe', title: 'outlier exposure L_OE' },
  { key: 'train_acc', title: 'train accuracy (%)', scale: 100 },
  { key: 'val_auroc', title: 'validation AUROC (%)', scale: 100, end: true },
  { key: 'lr', title: 'learning rate', end: true },
];

/** Centred moving average over `w` points (fewer at the ends). */
export function movingAverage(ys: number[], w: number): number[] {
  const h = Math.floor(w / 2);
  const prefix = [0];
  for (const y of ys) prefix.push(prefix[prefix.length - 1] + y);
  return ys.map((_, i) => {
    const a = Math.max(0, i - h);
    const b = Math.min(ys.length, i + h + 1);
    return (prefix[b] - prefix[a]) / (b - a);
  });
}

/**
 * Small multiples against the epoch, two per row: each loss term that was active, train accuracy,
 * validation AUROC (eval.every_epoch) and the learning rate. With per-step rows (train_steps.csv) a
 * term is drawn per step (light) with its moving average (solid) and the epoch means as dots; without,
 * from the epoch rows alone. Epoch e spans (e − 1, e]: a mean over it is drawn at its middle, a value
 * at its end at e. Warm-up epochs (no margins yet) are shaded, and the margin losses are not drawn
 * there (their weight is 0).
 */
export function trainingCurvesSvg(rows: TrainLogRow[], o: { title?: string; width?: number; steps?: TrainStepRow[] } = {}): string {
  const cols = 2;
  const pw = 380;
  const ph = 210;
  const gapX = MARGIN.left + MARGIN.right + 8;
  const gapY = MARGIN.top + MARGIN.bottom;
  const top = o.title ? 40 : 0;
  const steps = o.steps ?? [];
  const warm = rows.filter((r) => r.m_in !== undefined && !Number.isFinite(r.m_in)).map((r) => r.epoch);
  const warmEnd = warm.length ? Math.max(...warm) : 0;
  const inWarmup = (x: number): boolean => x <= warmEnd;
  const at = (c: (typeof CURVES)[number], epoch: number): number => (c.end ? epoch : epoch - 0.5);
  const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);
  const active = (c: (typeof CURVES)[number], v: number | undefined, x: number): boolean => finite(v) && !(c.margins && inWarmup(x));
  const series = CURVES.filter((c) => {
    const values = [...rows.map((r) => [r[c.key], at(c, r.epoch)] as const), ...steps.map((st) => [st.values[c.key as keyof TrainStepRow['values']], st.x] as const)];
    // A term is drawn when it was ever non-zero outside warm-up (the OE term of a GReg run is all zeros).
    return values.some(([v, x]) => active(c, v, x) && (c.key !== 'oe' || v !== 0));
  });
  const nRows = Math.ceil(series.length / cols);
  const width = o.width ?? cols * (pw + gapX) + 10;
  const height = top + nRows * (ph + gapY);
  const parts: string[] = [];
  if (o.title) parts.push(`<text x="${width / 2}" y="26" text-anchor="middle" font-size="18" font-weight="bold" fill="#111">${escapeXml(o.title)}</text>`);
  const lastEpoch = Math.max(...rows.map((r) => r.epoch), ...steps.map((st) => Math.ceil(st.x)), 1);
  const xr: [number, number] = [0, lastEpoch];
  const xticks = niceTicks(xr[0], xr[1], 6).filter((v) => Number.isInteger(v));
  const smoothW = Math.max(1, Math.round(steps.length / 40));
  series.forEach((c, i) => {
    const scale = c.scale ?? 1;
    const stepPts = steps.filter((st) => active(c, st.values[c.key as keyof TrainStepRow['values']], st.x));
    const sx = stepPts.map((st) => st.x);
    const sy = stepPts.map((st) => st.values[c.key as keyof TrainStepRow['values']]! * scale);
    const epochRows = rows.filter((r) => active(c, r[c.key], at(c, r.epoch)));
    const ex = epochRows.map((r) => at(c, r.epoch));
    const ey = epochRows.map((r) => (r[c.key] as number) * scale);
    const all = [...sy, ...ey];
    let lo = Math.min(...all);
    let hi = Math.max(...all);
    if (lo === hi) [lo, hi] = [lo - (Math.abs(lo) * 0.1 || 1), hi + (Math.abs(hi) * 0.1 || 1)];
    const pad = (hi - lo) * 0.08;
    const yr: [number, number] = [lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi + pad];
    const x = MARGIN.left + (i % cols) * (pw + gapX);
    const y = top + MARGIN.top + Math.floor(i / cols) * (ph + gapY);
    const p = new Panel(x, y, pw, ph, xr, yr);
    if (warmEnd > xr[0]) {
      const x1 = p.sx(Math.min(warmEnd, xr[1]));
      p.parts.push(`<rect class="warmup" x="${r2(p.x)}" y="${p.y}" width="${r2(x1 - p.x)}" height="${p.h}" fill="#f2f2f2"/>`);
      p.parts.push(`<text x="${r2(p.x + 6)}" y="${p.y + p.h - 8}" font-size="12" fill="#777">warm-up</text>`);
    }
    p.axes({ title: c.title, xlabel: 'epoch', xticks });
    const color = PALETTE[i % PALETTE.length];
    if (sx.length && c.key !== 'lr') {
      p.line(sx, sy, color, { width: 1, opacity: 0.3, cls: `steps-${c.key}` });
      p.line(sx, movingAverage(sy, smoothW), color, { width: 2.5, cls: `curve-${c.key}` });
      p.points(ex, ey, color, `epochs-${c.key}`);
    } else if (sx.length) {
      p.line(sx, sy, color, { width: 2, cls: `curve-${c.key}` });
    } else {
      p.line(ex, ey, color, { markers: true, cls: `curve-${c.key}` });
    }
    parts.push(...p.parts);
  });
  return svgDocument(width, height, parts);
}
