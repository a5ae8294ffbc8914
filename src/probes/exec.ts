import { TetherError } from '../lib/errors.js';
import { describeExit, runProcess, type RunResult } from '../lib/process.js';
import type { ProbeSpec } from '../manifest/model.js';
import { OUTPUT_LIMIT_BYTES, runAttempt, truncateOutput, type Verdict } from './attempt.js';
import type { Probe } from './probe.js';

type ExecSpec = Extract<ProbeSpec, { kind: 'exec' }>;

/**
 * An exec probe: runs argv (no shell) with the process runner; healthy on
 * exit status 0. Output is the tail of stdout+stderr. On timeout or abort the
 * whole group is stopped, so grandchildren die too; so is whatever the
 * command leaves behind when it exits (it would pile up every interval).
 */
export function createExecProbe(spec: ExecSpec, timeoutMs: number): Probe {
  if (spec.argv[0] === undefined || spec.argv[0] === '') throw new TetherError('probe.invalid', 'exec probe: argv is empty');
  return {
    run: (signal) =>
      runAttempt(signal, timeoutMs, async (s) => {
        // The attempt's signal carries the timeout: a probe gets no grace after it.
        const result = await runProcess({ argv: spec.argv, signal: s, killGraceMs: 0, keep: 'tail', outputLimit: OUTPUT_LIMIT_BYTES });
        return commandVerdict(result, 'text');
      }),
  };
}

/**
 * ok on exit status 0. The output is "STATUS: tail of the output", cut to
 * OUTPUT_LIMIT_BYTES; `onSuccess` 'text' gives a successful command's output
 * alone (the status when it printed nothing), 'status' keeps the status.
 */
export function commandVerdict(result: RunResult, onSuccess: 'text' | 'status'): Verdict {
  const ok = result.code === 0;
  const text = result.output.trimEnd();
  const status = describeExit(result);
  if (text === '') return { ok, output: status };
  if (ok && onSuccess === 'text') return { ok, output: truncateOutput(text, OUTPUT_LIMIT_BYTES, 'tail') };
  const head = `${status}: `;
  return { ok, output: head + truncateOutput(text, OUTPUT_LIMIT_BYTES - Buffer.byteLength(head), 'tail') };
}
