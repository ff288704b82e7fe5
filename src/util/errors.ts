/**
 * A mistake the user can fix (bad config, missing file, malformed data).
 * The CLI prints its message without a stack trace and exits with `exitCode`.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'UserError';
  }
}
