import { parentPort, workerData } from 'node:worker_threads';
import { TetherError } from '../errors.js';
import { loadManifest } from './load.js';

/**
 * The worker thread of `loadManifestOffThread`: loads the manifest named by
 * `workerData` and posts one reply, then its event loop is empty and it exits.
 */

/** What the worker is given. */
export interface LoadRequest {
  configPath: string;
  env: Record<string, string | undefined>;
}

/** Its one reply: the LoadResult, or a failure as plain data (errors do not survive the thread boundary as classes). */
export type LoadReply =
  | { ok: true; result: Awaited<ReturnType<typeof loadManifest>> }
  | { ok: false; code: string | null; message: string };

const { configPath, env } = workerData as LoadRequest;
loadManifest(configPath, env).then(
  (result) => parentPort?.postMessage({ ok: true, result } satisfies LoadReply),
  (err: unknown) =>
    parentPort?.postMessage({
      ok: false,
      code: err instanceof TetherError ? err.code : null,
      message: err instanceof Error ? err.message : String(err),
    } satisfies LoadReply),
);
