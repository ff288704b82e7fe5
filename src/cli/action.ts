import { UserError } from '../util/errors';

/**
 * Runs one CLI action, turning user mistakes into a one-line message and an exit code, never a stack trace.
 * (Its own module so that command modules can use it without importing main.ts, which registers them.)
 */
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
