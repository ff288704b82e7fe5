import type { EpochRow, StepInfo } from '../train/trainer';
import type { StepLosses } from '../train/step';

/**
 * Progress of training and evaluation on stderr. On a terminal: one line redrawn in place that fits
 * the terminal's width (lower-priority fields are dropped first, the bar shrinks before anything goes);
 * when piped: plain lines about every 10% of an epoch, so that logs stay readable. Line building is
 * pure (formatTrainLine, fitSegments) so that it can be tested at any width.
 */

/** A field of a progress line. The bar is the one field whose width is chosen to fill the line. */
export type Segment = { text: string; priority: number } | { bar: number; priority: number };

const BAR_MIN = 8;
const BAR_MAX = 30;

function barText(fraction: number, width: number): string {
  const full = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'='.repeat(full)}${' '.repeat(width - full)}]`;
}

/**
 * Joins segments with spaces into a line of at most `columns` characters: the bar takes what is left
 * (BAR_MIN to BAR_MAX), and while the line is too long, the lowest-priority segment is dropped.
 */
export function fitSegments(segments: Segment[], columns: number): string {
  let kept = [...segments];
  for (;;) {
    const fixed = kept.reduce((n, s) => n + ('text' in s ? s.text.length : 0), 0) + Math.max(0, kept.length - 1);
    const hasBar = kept.some((s) => 'bar' in s);
    const room = columns - fixed - (hasBar ? 2 : 0);
    if (!hasBar ? fixed <= columns : room >= BAR_MIN) {
      const w = Math.min(BAR_MAX, room);
      return kept.map((s) => ('text' in s ? s.text : barText(s.bar, w))).join(' ');
    }
    if (kept.length <= 1) return kept.map((s) => ('text' in s ? s.text : '')).join('').slice(0, columns);
    const low = kept.reduce((a, b) => (b.priority < a.priority ? b : a));
    kept = kept.filter((s) => s !== low);
  }
}

/** Seconds as m:ss, or h:mm:ss from an hour on. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n: number): string => String(n).padStart(2, '0');
  return hms[0] > 0 ? `${hms[0]}:${pad(hms[1])}:${pad(hms[2])}` : `${hms[1]}:${pad(hms[2])}`;
}

/** A loss value in 3 significant digits (exponent form below 1e-3). */
export function lossText(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential(1);
  return Math.abs(x) >= 1000 ? x.toFixed(0) : String(Number(x.toPrecision(3)));
}

function rateText(x: number, unit: string): string {
  if (!Number.isFinite(x)) return `- ${unit}`;
  return `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)} ${unit}`;
}

/** Short names of the loss terms, as in the README. */
export const TERM_LABELS: Record<Exclude<keyof StepLosses, 'total'>, string> = { ce: 'ce', energy: 'L_S', grad_reg: 'L_gradS', oe: 'OE' };

/** What the training line shows. */
export interface TrainLineState {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Seconds since the epoch started. */
  elapsed: number;
  /** Smoothed seconds per step and images per step. */
  secondsPerStep: number;
  imagesPerStep: number;
  /** Training steps left in the whole run after this one. */
  stepsLeft: number;
  /** Smoothed losses; only the active terms are shown. */
  losses: StepLosses;
  active: StepInfo['active'];
  lr: number;
  warmup: boolean;
  /** Work inside the step that is under way (GReg+ candidate scoring), e.g. `scoring candidates 128/384`. */
  phase?: string;
}

/** The fields of the training line, in display order, with their priorities (higher stays longer). */
export function trainSegments(s: TrainLineState): Segment[] {
  const segs: Segment[] = [
    { text: `epoch ${s.epoch}/${s.epochs}`, priority: 100 },
    { bar: s.steps ? s.step / s.steps : 0, priority: 60 },
    { text: `${Math.floor((100 * s.step) / Math.max(1, s.steps)).toString().padStart(3)}%`, priority: 95 },
    { text: `${s.step}/${s.steps}`, priority: 50 },
    // tqdm's elapsed<remaining, for the epoch
    { text: `${duration(s.elapsed)}<${duration((s.steps - s.step) * s.secondsPerStep)}`, priority: 35 },
    { text: rateText(1 / s.secondsPerStep, 'step/s'), priority: 30 },
    { text: rateText(s.imagesPerStep / s.secondsPerStep, 'img/s'), priority: 40 },
    { text: `ETA ${duration(s.stepsLeft * s.secondsPerStep)}`, priority: 90 },
    { text: `loss ${lossText(s.losses.total)}`, priority: 85 },
  ];
  s.active.forEach((k, i) => segs.push({ text: `${TERM_LABELS[k]} ${lossText(s.losses[k])}`, priority: 70 - i }));
  segs.push({ text: `lr ${s.lr.toExponential(1)}`, priority: 20 });
  if (s.warmup) segs.push({ text: '[warm-up]', priority: 88 });
  if (s.phase) segs.push({ text: s.phase, priority: 80 });
  return segs;
}

/** The training line at `columns` characters (a log line when `columns` is Infinity). */
export function formatTrainLine(s: TrainLineState, columns: number): string {
  const segs = trainSegments(s);
  return Number.isFinite(columns) ? fitSegments(segs, columns) : segs.filter((x): x is { text: string; priority: number } => 'text' in x).map((x) => x.text).join(' ');
}

/** Exponential moving average with bias correction (the first values are not pulled towards 0). */
export class Smoothed {
  private v = 0;
  private w = 0;
  constructor(private readonly beta = 0.9) {}
  add(x: number): number {
    this.v = this.beta * this.v + (1 - this.beta) * x;
    this.w = this.beta * this.w + (1 - this.beta);
    return this.value;
  }
  get value(): number {
    return this.w ? this.v / this.w : NaN;
  }
}

const REDRAW_MS = 100;
const columnsOf = (): number => process.stderr.columns || 80;

/** Redraws one terminal line in place, at most every REDRAW_MS unless forced. */
class LiveLine {
  private last = 0;
  shown = false;
  draw(text: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < REDRAW_MS) return;
    this.last = now;
    process.stderr.write(`\r${text}\x1b[K`);
    this.shown = true;
  }
  /** Ends the line so that the next output starts on its own line. */
  end(): void {
    if (this.shown) process.stderr.write('\n');
    this.shown = false;
  }
  /** Erases the line (it is drawn again by the next update). */
  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
    this.last = 0;
  }
}

/**
 * Training progress: percentage, elapsed time, steps/s and images/s, the whole run's ETA, smoothed
 * losses of every active term, the learning rate, a warm-up marker, and the phase of a long step.
 */
export class TrainProgress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly line = new LiveLine();
  private started = 0;
  private stepStarted = 0;
  private readonly secondsPerStep = new Smoothed();
  private readonly imagesPerStep = new Smoothed();
  private losses = new Map<keyof StepLosses, Smoothed>();
  private last?: TrainLineState;

  constructor(private readonly epochs: number) {}

  epochStart(): void {
    this.started = this.stepStarted = performance.now();
    this.losses = new Map();
    this.last = undefined;
  }

  step(i: StepInfo): void {
    const now = performance.now();
    this.secondsPerStep.add((now - this.stepStarted) / 1000);
    this.stepStarted = now;
    this.imagesPerStep.add(i.images);
    const losses = Object.fromEntries((Object.keys(i.losses) as (keyof StepLosses)[]).map((k) => {
      if (!this.losses.has(k)) this.losses.set(k, new Smoothed());
      return [k, this.losses.get(k)!.add(i.losses[k])];
    })) as unknown as StepLosses;
    this.last = {
      epoch: i.epoch,
      epochs: this.epochs,
      step: i.step,
      steps: i.steps,
      elapsed: (now - this.started) / 1000,
      secondsPerStep: this.secondsPerStep.value,
      imagesPerStep: this.imagesPerStep.value,
      stepsLeft: (this.epochs - i.epoch) * i.steps + (i.steps - i.step),
      losses,
      active: i.active,
      lr: i.lr,
      warmup: i.warmup,
    };
    if (this.tty) this.line.draw(formatTrainLine(this.last, columnsOf()), i.step === 1 || i.step === i.steps);
    else if (i.step % Math.max(1, Math.round(i.steps / 10)) === 0) process.stderr.write(`${formatTrainLine(this.last, Infinity)}\n`);
  }

  /**
   * Scoring inside training: GReg+ candidates within a step (shown on the step's line while under way),
   * or the energies that set percentile margins between epochs (a line of its own).
   */
  phase(label: string, done: number, total: number): void {
    if (!this.tty || done >= total) return;
    if (this.last) this.line.draw(formatTrainLine({ ...this.last, phase: `${label} ${done}/${total}` }, columnsOf()));
    else this.line.draw(fitSegments(countSegments(label, done, total, NaN), columnsOf()));
  }

  /** A message between updates (e.g. the margins just set), on its own line. */
  message(m: string): void {
    this.line.clear();
    process.stderr.write(`${m}\n`);
  }

  epochEnd(r: EpochRow): void {
    this.line.end();
    const last = this.last;
    this.last = undefined;
    const terms = (last?.active ?? ['ce']).map((k) => `${TERM_LABELS[k]} ${lossText(r[k])}`).join(', ');
    const val = r.val_auroc !== undefined && r.val_auroc !== null ? `, validation AUROC ${(100 * r.val_auroc).toFixed(2)}%` : '';
    process.stderr.write(
      `epoch ${r.epoch}/${this.epochs} done in ${duration(r.seconds)}${last?.warmup ? ' [warm-up]' : ''}: loss ${lossText(r.loss)} (${terms}), train acc ${(100 * r.train_acc).toFixed(2)}%${val}\n`,
    );
  }

  stop(): void {
    this.line.end();
  }
}

/**
 * Progress of a long evaluation (scoring a dataset): a bar with percentage, images/s and ETA on a
 * terminal, nothing when piped.
 */
export function evalProgress(label: string): (done: number, total: number) => void {
  if (!process.stderr.isTTY) return () => undefined;
  const line = new LiveLine();
  const t0 = performance.now();
  return (done, total) => {
    line.draw(fitSegments(countSegments(label, done, total, (performance.now() - t0) / 1000), columnsOf()), done === total);
    if (done === total) line.end();
  };
}

/** The fields of a count's progress line: label, bar, percentage, count and, given the elapsed seconds, rate and ETA. */
function countSegments(label: string, done: number, total: number, seconds: number): Segment[] {
  const rate = done / seconds;
  const segs: Segment[] = [
    { text: label, priority: 100 },
    { bar: total ? done / total : 1, priority: 60 },
    { text: `${Math.floor((100 * done) / Math.max(1, total)).toString().padStart(3)}%`, priority: 95 },
    { text: `${done}/${total}`, priority: 50 },
  ];
  if (Number.isFinite(seconds)) segs.push({ text: rateText(rate, 'img/s'), priority: 40 }, { text: `ETA ${duration((total - done) / rate)}`, priority: 90 });
  return segs;
}
