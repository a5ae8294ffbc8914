import { Worker } from 'node:worker_threads';
import { TetherError } from '../lib/errors.js';
import { deepFreeze } from './freeze.js';
import type { LoadReply, LoadRequest } from './load-worker.js';
import type { LoadResult } from './load.js';

/**
 * `loadManifest` on a worker thread. Parsing a large manifest (YAML with
 * positions, then zod) is cold code: on the main thread a reload would block
 * probes and heartbeats for ~150 ms (500 services), and its garbage would
 * land on the agent's heap. In a worker, the main thread keeps running (at
 * start, it loads the agent's own modules meanwhile), never loads js-yaml and
 * zod, and the worker's heap is freed when it exits. At start-up, with
 * js-yaml, the two measured alike (first registration ~530 ms, RSS ~85 MB).
 * Only the normalized manifest crosses over.
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
    // less (500 services, interleaved runs: the manifest arrived at ~390 ms instead of ~435).
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  let replied = false;
  try {
    const reply = await new Promise<LoadReply>((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      worker.once('message', (m: LoadReply) => ((replied = true), done(), resolve(m)));
      worker.once('error', (err) => (done(), reject(new TetherError('manifest.load_failed', `loading ${configPath}: ${err.message}`, { cause: err }))));
      worker.once('exit', (code) => (done(), reject(new TetherError('manifest.load_failed', `loading ${configPath}: the loader exited (code ${code})`))));
    });
    if (!reply.ok) throw new TetherError(reply.code ?? 'manifest.load_failed', reply.message);
    const { manifest, issues } = reply.result;
    return { manifest: manifest === null ? null : deepFreeze(manifest), issues };
  } finally {
    // Once it has replied it exits on its own (its event loop is empty). Terminating it anyway cost
    // this thread ~3-5 ms at start-up, on the way to the first registration; stop it only on abort.
    if (!replied) void worker.terminate();
  }
}
