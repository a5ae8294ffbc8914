import { resolve } from 'node:path';
import { parseDuration } from '../lib/duration.js';
import type { ManifestIssue } from './issues.js';
import type { ExecOnChange, ExecSpec } from './model.js';
import { namespaceRefused, registryRefuses } from './normalize-files.js';
import { service } from './normalize.js';
import type { ParsedExec } from './schema.js';

type Where = (path: PropertyKey[], message: string) => ManifestIssue;

/** `tether exec` defaults (README, "tether exec"). */
export const EXEC_DEFAULTS = {
  killTimeoutMs: 10_000,
  restartDelayMs: 1000,
  restartMaxDelayMs: 30_000,
  renderTimeoutMs: 30_000,
  minUptimeMs: 1000,
} as const;

function onChange(v: string): ExecOnChange {
  return v === 'restart' || v === 'none' ? { kind: v } : { kind: 'signal', signal: v as NodeJS.Signals };
}

const ms = (v: string | number | undefined, fallback: number): number => (v === undefined ? fallback : parseDuration(v));

/**
 * The exec section in its normalized shape. File keys of `files` are resolved
 * like file paths (relative to the manifest's directory), so they match the
 * rendered files' absolute paths; a key that names no file is reported by the
 * caller once all files are known (see checkExecFiles).
 */
export function normalizeExec(e: ParsedExec, baseDir: string, where: Where, issues: ManifestIssue[]): ExecSpec {
  const waitMin = e.wait === undefined ? 0 : parseDuration(typeof e.wait === 'object' ? e.wait.min : e.wait);
  const waitMax = typeof e.wait === 'object' && e.wait.max !== undefined ? parseDuration(e.wait.max) : waitMin * 4;
  if (waitMax < waitMin) issues.push(where(['exec', 'wait', 'max'], 'must not be less than min'));
  const spec: ExecSpec = {
    command: e.command ?? null,
    env: e.env.map((s) => ('key' in s ? { kind: 'key', key: s.key, name: s.name } : { kind: 'namespace', namespace: `/${s.namespace.replace(/^\/+|\/+$/g, '')}`, prefix: s.prefix })),
    onChange: onChange(e.on_change),
    files: Object.fromEntries(Object.entries(e.files).map(([p, v]) => [resolve(baseDir, p), onChange(v)])),
    stopSignal: e.stop_signal as NodeJS.Signals,
    killTimeoutMs: ms(e.kill_timeout, EXEC_DEFAULTS.killTimeoutMs),
    restart: e.restart,
    restartDelayMs: ms(e.restart_delay, EXEC_DEFAULTS.restartDelayMs),
    restartMaxDelayMs: ms(e.restart_max_delay, EXEC_DEFAULTS.restartMaxDelayMs),
    waitMinMs: waitMin,
    waitMaxMs: Math.max(waitMin, waitMax),
    splayMs: ms(e.splay, 0),
    renderTimeoutMs: ms(e.render_timeout, EXEC_DEFAULTS.renderTimeoutMs),
    minUptimeMs: ms(e.min_uptime, EXEC_DEFAULTS.minUptimeMs),
    drainMs: ms(e.drain, 0),
    service: e.service ? service(e.service, ['exec', 'service'], where, issues) : null,
  };
  if (spec.restartMaxDelayMs < spec.restartDelayMs) issues.push(where(['exec', 'restart_max_delay'], 'must not be less than restart_delay'));
  // The registry's key rule, as for files' sources: a key it refuses (or a namespace no key fits) could never be read.
  spec.env.forEach((v, i) => {
    const refused = v.kind === 'key' ? registryRefuses(v.key) : namespaceRefused(v.namespace);
    if (refused === null) return;
    const message = v.kind === 'key' ? `the registry refuses this key (${refused})` : `the registry refuses every key under this namespace (${refused})`;
    issues.push(where(['exec', 'env', i, v.kind], message));
  });
  return spec;
}

/** The exec settings of a manifest without an exec section (the command comes from the command line). */
export function defaultExecSpec(): ExecSpec {
  return {
    command: null,
    env: [],
    onChange: { kind: 'restart' },
    files: {},
    stopSignal: 'SIGTERM',
    killTimeoutMs: EXEC_DEFAULTS.killTimeoutMs,
    restart: 'never',
    restartDelayMs: EXEC_DEFAULTS.restartDelayMs,
    restartMaxDelayMs: EXEC_DEFAULTS.restartMaxDelayMs,
    waitMinMs: 0,
    waitMaxMs: 0,
    splayMs: 0,
    renderTimeoutMs: EXEC_DEFAULTS.renderTimeoutMs,
    minUptimeMs: EXEC_DEFAULTS.minUptimeMs,
    drainMs: 0,
    service: null,
  };
}
