import { Worker } from 'node:worker_threads';
import { TetherError } from '../errors.js';
import { deepFreeze } from './freeze.js';
import type { LoadReply, LoadRequest } from './load-worker.js';
import type { LoadResult } from './load.js';

/**
 * `loadManifest` on a worker thread. Parsing a large manifest (YAML with
 * positions, then zod) is cold code that allocates tens of MB: on the main
 * thread it would block probes and heartbeats (500 services: ~150 ms), and
 * its garbage would grow the agent's heap for good (measured: ~25 MB more
 * RSS). In a worker, the main thread loads the agent's own modules meanwhile,
 * never loads js-yaml and zod at all, and the worker's heap is freed when it
 * exits. Only the normalized manifest crosses over.
 *
 * Resolves with the same LoadResult (the manifest frozen); rejects as
 * `loadManifest` does (TetherError `manifest.not_found`), with TetherError
 * `manifest.load_failed` when the worker dies, and with `signal.reason`
 * (the worker terminated) when `signal` aborts first.
 */
export async function loadManifestOffThread(configPath: string, env: NodeJS.ProcessEnv = process.env, signal?: AbortSignal): Promise<LoadResult> {
  signal?.throwIfAborted();
  // Run from TypeScript sources (vitest): a worker could not load them; parse here instead.
  if (!import.meta.url.endsWith('.js')) return (await import('./load.js')).loadManifest(configPath, env);
  const request: LoadRequest = { configPath, env: { ...env } };
  const worker = new Worker(new URL('./load-worker.js', import.meta.url), {
    workerData: request,
    // A small young generation: the parse's garbage is short-lived, and a smaller nursery is touched
    // less (measured: the manifest arrives ~40 ms sooner with 500 services, and the start-up peak is lower).
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  try {
    const reply = await new Promise<LoadReply>((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      worker.once('message', (m: LoadReply) => (done(), resolve(m)));
      worker.once('error', (err) => (done(), reject(new TetherError('manifest.load_failed', `loading ${configPath}: ${err.message}`, { cause: err }))));
      worker.once('exit', (code) => (done(), reject(new TetherError('manifest.load_failed', `loading ${configPath}: the loader exited (code ${code})`))));
    });
    if (!reply.ok) throw new TetherError(reply.code ?? 'manifest.load_failed', reply.message);
    const { manifest, issues } = reply.result;
    return { manifest: manifest === null ? null : deepFreeze(manifest), issues };
  } finally {
    // It exits on its own once it has replied; this frees it now, or stops it on abort or error.
    void worker.terminate();
  }
}
