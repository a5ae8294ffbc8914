/**
 * Errors are values with stable codes. Code never branches on `message`;
 * only the CLI turns errors into exit codes.
 */
export class TetherError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TetherError';
    this.code = code;
  }
}

/** True when `err` is a TetherError with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof TetherError && err.code === code;
}
