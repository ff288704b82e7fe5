import { SingleBar, Presets } from 'cli-progress';
import type { EpochRow, StepInfo } from '../train/trainer';

const f = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(4));

/**
 * Training progress: a bar per epoch with step, loss components and ETA on a
 * terminal; plain lines (about every 10% of an epoch) when output is piped, so
 * logs stay readable.
 */
export class TrainProgress {
  private bar?: SingleBar;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly epochs: number) {}

  epochStart(epoch: number, steps: number): void {
    if (!this.tty) return;
    this.bar = new SingleBar(
      {
        format: `epoch ${epoch}/${this.epochs} [{bar}] {value}/{total} | loss {loss} ce {ce} L_S {es} L_gradS {gr} | lr {lr} | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 20,
      },
      Presets.shades_classic,
    );
    this.bar.start(steps, 0, { loss: '-', ce: '-', es: '-', gr: '-', lr: '-' });
  }

  step(i: StepInfo): void {
    const payload = { loss: f(i.losses.total), ce: f(i.losses.ce), es: f(i.losses.energy), gr: f(i.losses.grad_reg), lr: i.lr.toExponential(2) };
    if (this.bar) {
      this.bar.update(i.step, payload);
    } else if (i.step % Math.max(1, Math.round(i.steps / 10)) === 0) {
      process.stderr.write(`epoch ${i.epoch}/${this.epochs} step ${i.step}/${i.steps} loss ${payload.loss} ce ${payload.ce} L_S ${payload.es} L_gradS ${payload.gr} lr ${payload.lr}\n`);
    }
  }

  epochEnd(r: EpochRow): void {
    this.bar?.stop();
    this.bar = undefined;
    process.stderr.write(
      `epoch ${r.epoch}/${this.epochs} done in ${r.seconds.toFixed(1)} s: loss ${f(r.loss)} (ce ${f(r.ce)}, L_S ${f(r.energy)}, L_gradS ${f(r.grad_reg)}), train acc ${(100 * r.train_acc).toFixed(2)}%\n`,
    );
  }

  stop(): void {
    this.bar?.stop();
  }
}

/** A counter for long evaluations: `label: done/total` on a terminal, nothing when piped. */
export function evalProgress(label: string): (done: number, total: number) => void {
  if (!process.stderr.isTTY) return () => undefined;
  return (done, total) => {
    process.stderr.write(`\r${label}: ${done}/${total}${done === total ? '\n' : ''}`);
  };
}
