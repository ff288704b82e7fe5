import { Command, CommanderError } from 'commander';
import { UserError } from '../util/errors';
import { registerMetrics } from './metrics';

/** Runs one CLI action, turning user mistakes into a one-line message and an exit code, never a stack trace. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      if (e instanceof UserError) {
        process.stderr.write(`grodd: ${e.message}\n`);
        process.exit(e.exitCode);
      }
      throw e;
    }
  };
}

const program = new Command('grodd')
  .description('Gradient-Regularized Out-of-Distribution detection (GReg / GReg+): train, evaluate, sweep')
  .showHelpAfterError()
  .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));

registerMetrics(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`grodd: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
