import { inheritedEnv } from '../lib/child-env.js';
import { TetherError } from '../lib/errors.js';
import { describeExit, runProcess, type RunResult } from '../lib/process.js';

const CHECK_OUTPUT_TAIL_BYTES = 2048;
export const CHECK_OUTPUT_HIDDEN = '(output hidden: the file holds secret values)';

/**
 * Runs the check argv (no shell) with the process runner, with
 * TETHER_STAGED_PATH in its environment. Resolves on exit status 0; throws
 * `write.check_failed` otherwise (also on timeout, when its group is stopped).
 * On abort, stops the group and rejects with `signal.reason`. With
 * `holdsSecrets` the check's output is left out of the error: checkers quote
 * the line they reject, and the error is logged.
 */
export async function runCheck(argv: string[], staged: string, path: string, timeoutMs: number, signal?: AbortSignal, holdsSecrets = false): Promise<void> {
  const what = `check ${argv[0] ?? ''} for ${path}`;
  let result: RunResult;
  try {
    const env = { ...inheritedEnv(), TETHER_STAGED_PATH: staged };
    result = await runProcess({ argv, env, timeoutMs, signal, keep: 'tail', outputLimit: CHECK_OUTPUT_TAIL_BYTES });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new TetherError('write.check_failed', `${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (result.code === 0 && !result.timedOut) return;
  const why = result.timedOut ? `timed out after ${timeoutMs}ms (process group killed)` : describeExit(result);
  const out = result.output.trimEnd();
  const shown = out === '' ? '' : `: ${holdsSecrets ? CHECK_OUTPUT_HIDDEN : out}`;
  throw new TetherError('write.check_failed', `${what} failed: ${why}${shown}; the file was not changed`);
}
