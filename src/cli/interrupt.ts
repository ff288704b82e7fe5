/**
 * How a long command stops when asked to: Ctrl-C (SIGINT), SIGTERM (a scheduler, `grodd sweep`), or the
 * end of the `grodd sweep` that started it (its IPC channel closes, however the sweep died).
 *
 * While a stage that can stop cleanly runs (`graceful`, the training loop), the first request aborts
 * `signal`: the loop finishes its step and saves what it has. Outside such a stage, or on a second
 * request, `exitNow` runs (it must say what is on disk, synchronously) and the process exits with 130;
 * a temporary file of an atomic write in progress is removed on the way out.
 */
export class Interrupts {
  private readonly controller = new AbortController();
  /** What asked to stop ("SIGINT", "the exit of the sweep that started it"), once asked. */
  reason?: string;
  /** Whether the first request may stop the work cleanly instead of exiting at once. */
  graceful = false;
  private readonly handlers: [string, () => void][];

  constructor(private readonly exitNow: (reason: string) => void) {
    this.handlers = [
      ['SIGINT', () => this.request('SIGINT')],
      ['SIGTERM', () => this.request('SIGTERM')],
      ['disconnect', () => this.request('the exit of the sweep that started it')],
    ];
    for (const [event, fn] of this.handlers) process.on(event as NodeJS.Signals, fn);
    // `grodd sweep` gives its trainers an IPC channel; it must not keep this process alive.
    process.channel?.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private request(reason: string): void {
    if (this.graceful && !this.signal.aborted) {
      this.reason = reason;
      this.controller.abort();
      process.stderr.write(`\n${reason}: stopping after the current step to save a checkpoint (${reason === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again stops at once)\n`);
      return;
    }
    this.exitNow(this.reason === undefined ? reason : this.reason === reason ? `${reason} (twice)` : `${this.reason}, then ${reason}`);
    process.exit(130);
  }

  dispose(): void {
    for (const [event, fn] of this.handlers) process.off(event as NodeJS.Signals, fn);
  }
}
