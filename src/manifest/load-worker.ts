import { parentPort, workerData } from 'node:worker_threads';
import { TetherError } from '../lib/errors.js';
import { readManifest, type LoadResult } from './load.js';

/**
 * The worker thread of `loadManifestOffThread`: loads the manifest named by
 * `workerData` and posts one reply, then its event loop is empty and it exits.
 */

/** What the worker is given. */
export interface LoadRequest {
  configPath: string;
  env: Record<string, string | undefined>;
  /** For the build only: write or require the bundled worker's code cache (src/cli/load-worker-boot.ts). */
  codeCache?: 'write' | 'require';
}

/** Its one reply: the LoadResult, or a failure as plain data (errors do not survive the thread boundary as classes). */
export type LoadReply =
  | { ok: true; result: LoadResult }
  | { ok: false; code: string | null; message: string };

const { configPath, env } = workerData as LoadRequest;
let reply: LoadReply;
try {
  reply = { ok: true, result: readManifest(configPath, env) };
} catch (err) {
  reply = { ok: false, code: err instanceof TetherError ? err.code : null, message: err instanceof Error ? err.message : String(err) };
}
parentPort?.postMessage(reply);
