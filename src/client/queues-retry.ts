import { TetherError } from '../lib/errors.js';
import { isQueueFault } from '../queues/faults.js';

/**
 * What the queue loops (consume, followMessages) share about failures:
 * which ones retrying cannot fix, and reporting that never ends a loop.
 */

/** Faults retrying cannot fix: the request itself is wrong (4xx but 404/429), the token is refused, or the client is closed. */
export function isPermanent(err: unknown): boolean {
  if (isQueueFault(err)) return err.status < 500 && err.status !== 404 && err.status !== 429;
  return err instanceof TetherError && (err.code === 'client.unauthorized' || err.code === 'client.closed');
}

/** Calls `onError`; a logging callback that throws must not end the loop. */
export function report(onError: ((err: unknown) => void) | undefined, err: unknown): void {
  try {
    onError?.(err);
  } catch {
    // Swallowed on purpose (see above).
  }
}
