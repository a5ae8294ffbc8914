import { readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { processCpuSeconds } from './cpu.js';

/**
 * What a long-running process costs while it is idle-ish: CPU (utime +
 * stime from /proc/PID/stat, via `processCpuSeconds`) over a window and its
 * resident memory (VmRSS from /proc/PID/status) sampled every second. Linux
 * only; figures read NaN elsewhere or when the process is gone.
 */

/**
 * A `/proc/PID/status` field in kB as MB (2^20 bytes); NaN when unreadable.
 * VmRSS = RssAnon (the process's own memory: V8's heap, malloc) + RssFile
 * (pages of the node binary and libraries, shared and clean) + RssShmem.
 */
export function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? Number.NaN : Number(m[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

export interface ProcessWindow {
  pid: number;
  /** Cores used over the window (1.0 = one core busy all along). */
  cpu: number;
  /** The busiest sampling interval, in cores: bursty work shows here. */
  cpuPeak: number;
  /** Largest VmRSS sample, MB. */
  rssMaxMb: number;
  /** First and last VmRSS samples, MB: growth across the window hints at a leak. */
  rssFirstMb: number;
  rssLastMb: number;
  /** VmHWM at the end: the largest RSS since the process started (start-up included), MB. */
  rssPeakMb: number;
  samples: number;
}

/**
 * Watches `pids` for `durationMs`: CPU from the window's two edges, VmRSS
 * every `everyMs` (first sample at the start, last at the end). Sleeps are
 * anchored on the window start, so sampling does not drift. Rejects with the
 * signal's reason when aborted.
 */
export async function watchProcesses(pids: readonly number[], durationMs: number, signal: AbortSignal, everyMs = 1000): Promise<ProcessWindow[]> {
  const t0 = performance.now();
  const cpu0 = pids.map(processCpuSeconds);
  const rss = pids.map((pid) => [procStatusMb(pid, 'VmRSS')]);
  const last = [...cpu0];
  const peak = pids.map(() => 0);
  const ticks = Math.ceil(durationMs / everyMs);
  for (let i = 1, prev = t0; i <= ticks; i++) {
    await sleep(Math.max(0, t0 + Math.min(i * everyMs, durationMs) - performance.now()), undefined, { signal });
    const now = performance.now();
    pids.forEach((pid, k) => {
      rss[k]?.push(procStatusMb(pid, 'VmRSS'));
      const c = processCpuSeconds(pid);
      peak[k] = Math.max(peak[k] as number, (c - (last[k] as number)) / ((now - prev) / 1000));
      last[k] = c;
    });
    prev = now;
  }
  const wall = (performance.now() - t0) / 1000;
  return pids.map((pid, k) => {
    const samples = (rss[k] ?? []).filter(Number.isFinite);
    return {
      pid,
      cpu: (processCpuSeconds(pid) - (cpu0[k] as number)) / wall,
      cpuPeak: peak[k] as number,
      rssMaxMb: samples.length > 0 ? Math.max(...samples) : Number.NaN,
      rssFirstMb: samples[0] ?? Number.NaN,
      rssLastMb: samples[samples.length - 1] ?? Number.NaN,
      rssPeakMb: procStatusMb(pid, 'VmHWM'),
      samples: samples.length,
    };
  });
}

/** A process's resident memory by kind of mapping, MB (from /proc/PID/smaps; Linux only). */
export interface SmapsParts {
  /** The node executable's own pages (its code and read-only data: shared and clean). */
  binaryMb: number;
  /** Every other file: shared libraries. */
  librariesMb: number;
  /** V8's heap pages: anonymous mappings of exactly 256 KiB (V8's page size in Node 20 and 24). */
  v8PagesMb: number;
  /** malloc: the main arena ([heap]) and glibc's per-thread arenas (anonymous, 64 MiB-aligned, at most 64 MiB). */
  mallocMb: number;
  /** V8's code range (the only writable and executable mapping): compiled code. */
  codeMb: number;
  /** The rest of the anonymous memory: thread stacks, V8's other reservations. */
  otherAnonMb: number;
}

const ARENA = 64n << 20n;

/**
 * Splits `pid`'s RSS by mapping, so that a figure can say what is the agent's
 * (V8's heap, malloc) and what is Node's binary. The kinds are told apart by
 * shape (V8 page size, glibc arena alignment), which holds for Node's Linux
 * builds on x64; NaN everywhere when smaps cannot be read.
 */
export function smapsParts(pid: number): SmapsParts {
  const kb = { binaryMb: 0, librariesMb: 0, v8PagesMb: 0, mallocMb: 0, codeMb: 0, otherAnonMb: 0 };
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return { binaryMb: Number.NaN, librariesMb: Number.NaN, v8PagesMb: Number.NaN, mallocMb: Number.NaN, codeMb: Number.NaN, otherAnonMb: Number.NaN };
  }
  const exe = readlinkOr(`/proc/${pid}/exe`);
  let kind: keyof typeof kb = 'otherAnonMb';
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const [start, end] = [BigInt(`0x${head[1]}`), BigInt(`0x${head[2]}`)];
      kind = mappingKind(head[4] as string, head[3] as string, start, end - start, exe);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kb[kind] += Number(rss[1]);
  }
  return Object.fromEntries(Object.entries(kb).map(([k, v]) => [k, v / 1024])) as unknown as SmapsParts;
}

function mappingKind(name: string, perms: string, start: bigint, size: bigint, exe: string): keyof SmapsParts {
  if (name === '[heap]') return 'mallocMb';
  if (name !== '' && name === exe) return 'binaryMb';
  if (name.startsWith('/')) return 'librariesMb';
  if (perms === 'rwxp') return 'codeMb';
  if (name !== '') return 'otherAnonMb';
  if (size === 256n << 10n) return 'v8PagesMb';
  if (start % ARENA === 0n && size <= ARENA) return 'mallocMb';
  return 'otherAnonMb';
}

function readlinkOr(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
