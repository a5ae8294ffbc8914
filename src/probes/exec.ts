import { spawn } from 'node:child_process';
import { TetherError } from '../lib/errors.js';
import type { ProbeSpec } from '../manifest/model.js';
import { OUTPUT_LIMIT_BYTES, runAttempt, truncateOutput, type Verdict } from './attempt.js';
import type { Probe } from './probe.js';

type ExecSpec = Extract<ProbeSpec, { kind: 'exec' }>;

/**
 * An exec probe: runs argv (no shell) as the leader of a new process group;
 * healthy on exit status 0. Output is the tail of stdout+stderr. On timeout
 * or abort the whole group is SIGKILLed, so grandchildren die too.
 */
export function createExecProbe(spec: ExecSpec, timeoutMs: number): Probe {
  const [file, ...args] = spec.argv;
  if (file === undefined || file === '') throw new TetherError('probe.invalid', 'exec probe: argv is empty');
  return { run: (signal) => runAttempt(signal, timeoutMs, (s) => execOnce(file, args, s)) };
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs the command once. Resolves with its verdict (ENOENT included);
 * rejects with `signal.reason` when aborted before the command exited,
 * only after the leader has exited and been reaped.
 */
function execOnce(file: string, args: string[], signal: AbortSignal): Promise<Verdict> {
  signal.throwIfAborted();
  return new Promise<Verdict>((resolve, reject) => {
    // detached: the child calls setsid(), so its pid is also its process group id.
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = new TailBuffer(OUTPUT_LIMIT_BYTES);
    child.stdout.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => tail.push(chunk));
    let exit: Exit | undefined;

    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: the group is already empty.
      }
    };
    const onAbort = (): void => {
      killGroup();
      // A process outside the group (one that called setsid) may still hold
      // the pipes; stop waiting for them.
      child.stdout.destroy();
      child.stderr.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });

    child.once('exit', (code, sig) => {
      exit = { code, signal: sig };
      // The command is over; whatever it left behind in its group (a
      // background job holding our pipes) would pile up every interval.
      // The group id cannot name another process while members remain.
      killGroup();
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a kill error on a live child; 'close' still follows
      signal.removeEventListener('abort', onAbort);
      if (err.code === 'ENOENT') resolve({ ok: false, output: `executable not found: ${file}` });
      else reject(err);
    });
    child.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      if (child.pid === undefined) return; // spawn failed: settled by 'error'
      if (exit === undefined) reject(signal.reason); // cannot happen: 'close' follows 'exit'
      else if (signal.aborted && exit.signal === 'SIGKILL') reject(signal.reason);
      else resolve(verdictOf(exit, tail.text()));
    });
  });
}

function verdictOf(exit: Exit, output: string): Verdict {
  const text = output.trimEnd();
  if (exit.code === 0) return { ok: true, output: text === '' ? 'exit status 0' : text };
  const status = exit.code !== null ? `exit status ${exit.code}` : `killed by ${exit.signal}`;
  if (text === '') return { ok: false, output: status };
  const head = `${status}: `;
  return { ok: false, output: head + truncateOutput(text, OUTPUT_LIMIT_BYTES - Buffer.byteLength(head), 'tail') };
}

/** Keeps the last `limit` bytes pushed into it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - (this.chunks[0]?.length ?? 0) >= this.limit) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
  }

  /** The kept bytes as text, cut to the limit at the front. */
  text(): string {
    const all = Buffer.concat(this.chunks);
    return truncateOutput(all.toString('utf8'), this.limit, 'tail');
  }
}
