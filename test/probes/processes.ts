import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, vi } from 'vitest';

/** True once `pid` no longer exists: it exited and its parent reaped it. */
export function isReaped(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
    throw err;
  }
}

/**
 * True once `pid` is dead: reaped, or a zombie. A probe's grandchild is
 * reparented to PID 1, and only PID 1 may reap it; in this sandbox PID 1 is
 * not an init and never does, so a killed grandchild stays a zombie (no
 * memory, no CPU, just a process-table entry). Our own children must be
 * reaped: check those with `isReaped`.
 */
export function isDead(pid: number): boolean {
  if (isReaped(pid)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true; // gone between the two reads
  }
}

let pidFiles = 0;

/**
 * A fresh path in `dir` for a script to write pids into (one line), and a
 * reader that waits for the whole line and returns the pids.
 */
export function pidFile(dir: string): { path: string; pids: () => Promise<number[]> } {
  const path = join(dir, `pids-${++pidFiles}`);
  const pids = async (): Promise<number[]> => {
    let text = '';
    await vi.waitFor(
      () => {
        text = existsSync(path) ? readFileSync(path, 'utf8') : '';
        expect(text.endsWith('\n')).toBe(true);
      },
      { timeout: 5000 },
    );
    return text.trim().split(/\s+/).map(Number);
  };
  return { path, pids };
}
