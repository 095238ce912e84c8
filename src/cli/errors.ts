/**
 * A mistake in how a command was called (unknown command, bad flag or value).
 * Printed as one line with a hint to the command's --help; exit code 2.
 */
export class UsageError extends Error {
  readonly code = 'usage';
  constructor(
    message: string,
    /** The command whose --help explains the right use, e.g. `wagate tenant create`. */
    readonly command = 'wagate',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A command that was called right but could not do its work. Printed as one line; exit code 1. */
export class CommandError extends Error {
  readonly code = 'command_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommandError';
  }
}
