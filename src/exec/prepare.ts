import type { Agent } from '../agent/agent.js';
import { sleep } from '../lib/backoff.js';
import { TetherError } from '../lib/errors.js';
import type { EnvWatch } from './env-watch.js';

const POLL_MS = 25;

/**
 * Waits until every file of the manifest is rendered (the agent's first full
 * sync) and the child's environment is read, for at most `timeoutMs`, or
 * until `stopped` resolves. Rejects with TetherError `exec.render_failed`
 * (a file could not be rendered: its path and why) or `exec.render_timeout`
 * (with the last registry error, when there is one).
 */
export async function prepare(agent: Agent, env: EnvWatch, timeoutMs: number, stopped: Promise<void>): Promise<void> {
  const ac = new AbortController();
  const deadline = performance.now() + timeoutMs;
  let envRead = false;
  void stopped.then(() => ac.abort());
  void readEnv(env, ac.signal).then((ok) => (envRead = ok));
  try {
    while (!(envRead && agent.ready())) {
      if (ac.signal.aborted) return; // a signal asked tether to stop
      if (performance.now() >= deadline) throw timeoutError(agent, timeoutMs);
      await sleep(POLL_MS, ac.signal);
    }
  } finally {
    ac.abort();
  }
  const failed = agent.status().files.filter((f) => f.ok === false);
  if (failed.length > 0) {
    const why = failed.map((f) => `${f.path}: ${f.lastError?.message ?? 'failed'}`).join('; ');
    throw new TetherError('exec.render_failed', `cannot render ${why}; the command was not started`);
  }
}

/** Reads the environment sources, retrying until it succeeds or `signal` aborts; true when read. */
async function readEnv(env: EnvWatch, signal: AbortSignal): Promise<boolean> {
  while (!signal.aborted) {
    try {
      await env.sync(signal);
      return true;
    } catch {
      await sleep(250, signal);
    }
  }
  return false;
}

function timeoutError(agent: Agent, timeoutMs: number): TetherError {
  const err = agent.status().upstream.lastError;
  const why = err ? `; last registry error: ${err.message}` : '';
  return new TetherError('exec.render_timeout', `files and environment not ready within exec.render_timeout (${timeoutMs} ms)${why}; the command was not started`);
}
