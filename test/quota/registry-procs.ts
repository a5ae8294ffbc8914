import { afterEach } from 'vitest';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** `tether registry` processes on SQLite for the quota tests, with their data directories. */
export interface RegistryProcs {
  /** A new data directory (`name` is its prefix), removed after the test. */
  dir(name: string): Promise<TempDir>;
  /** Starts a registry with `extra` flags over `dir` (a new directory when absent). */
  start(extra: string[], dir?: TempDir): Promise<{ url: string; dir: TempDir; proc: RegistryProc }>;
  /** Stops every registry started so far (a restart within a test starts another after). */
  stopAll(): Promise<void>;
}

/** Registers an afterEach that stops every registry a test started and removes its directories. */
export function useRegistryProcs(): RegistryProcs {
  let procs: RegistryProc[] = [];
  let dirs: TempDir[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(procs.splice(0).map((p) => p.stop()));
  };
  afterEach(async () => {
    await stopAll();
    await Promise.all(dirs.map((d) => d.remove()));
    procs = [];
    dirs = [];
  });
  const dir = async (name: string): Promise<TempDir> => {
    const d = await createTempDir(name);
    dirs.push(d);
    return d;
  };
  return {
    dir,
    async start(extra, existing) {
      const d = existing ?? (await dir('quota'));
      if (!dirs.includes(d)) dirs.push(d);
      const proc = await startRegistry(d.path, 0, extra);
      procs.push(proc);
      return { url: proc.url, dir: d, proc };
    },
    stopAll,
  };
}
