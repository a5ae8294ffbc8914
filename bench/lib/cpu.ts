import { readFileSync } from 'node:fs';

/**
 * CPU accounting for a measured window, from /proc (Linux; NaN elsewhere):
 * this process (all threads), the server under test, and everything else on
 * the machine, so a reader can tell a saturated client or a busy neighbour
 * from a slow server.
 */

/** Cores used during a window (1.0 = one core busy all along). */
export interface Cpu {
  client: number;
  server: number;
  other: number;
}

/** USER_HZ: 100 on every Linux we run on (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100;

/** utime + stime of a live process, all threads, in seconds. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start at state, field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Busy seconds of the whole machine: every field of /proc/stat's `cpu` line but idle and iowait. */
function machineBusySeconds(): number {
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Starts a window now; the returned function ends it and reports the cores used. */
export function cpuMeter(server: { cpuSeconds(): number }): () => Cpu {
  const [t0, c0, s0, m0] = [performance.now(), process.cpuUsage(), server.cpuSeconds(), machineBusySeconds()];
  return () => {
    const [t1, c1, s1, m1] = [performance.now(), process.cpuUsage(c0), server.cpuSeconds(), machineBusySeconds()];
    const wall = (t1 - t0) / 1000;
    const [client, srv] = [(c1.user + c1.system) / 1e6 / wall, (s1 - s0) / wall];
    return { client, server: srv, other: Math.max(0, (m1 - m0) / wall - client - srv) };
  };
}
