import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnProc, type Proc } from '../helpers/procs.js';

/** A process as the host's /proc shows it: its pid here, its pid inside its own PID namespace, its state. */
export interface ProcEntry {
  pid: number;
  nspid: number;
  state: string;
}

/** The children of `ppid` (any state, zombies included), read from /proc/PID/status. */
export async function childrenOf(ppid: number): Promise<ProcEntry[]> {
  const out: ProcEntry[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(join('/proc', name, 'status'), 'utf8').catch(() => '');
    const field = (k: string): string => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
    if (Number(field('PPid')) !== ppid) continue;
    const nspids = field('NSpid').split(/\s+/).map(Number);
    out.push({ pid: Number(name), nspid: nspids.at(-1) ?? Number(name), state: field('State').charAt(0) });
  }
  return out;
}

/** The host pid of `pid`'s one child (the PID 1 that `unshare --fork` starts), once it exists. */
export async function onlyChild(pid: number): Promise<number | null> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const [first] = text.trim().split(/\s+/).filter(Boolean).map(Number);
  return first ?? null;
}

/**
 * `node CLI ...args` as PID 1 of a new PID namespace with its own /proc
 * (we run as root): the way a container without an init runs it. SIGKILL to
 * that PID 1 ends every process of the namespace (the kernel's rule), which
 * is how a test cleans up whatever is left.
 */
export function spawnAsPid1(cli: string, args: string[], env: Record<string, string> = {}): Proc {
  return spawnProc('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
}
