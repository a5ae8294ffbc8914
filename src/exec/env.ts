import { inheritedEnv } from '../lib/child-env.js';
import type { ExecEnvSource, SourceSpec } from '../manifest/model.js';
import type { SourceData } from '../materialize/data.js';

/**
 * The variable name of a key under a namespace source: the key relative to
 * the namespace, upper-cased, every character other than A-Z and 0-9 turned
 * into `_`, after `prefix`. `/app/db/host` in namespace `/app/` with prefix
 * `APP_` is `APP_DB_HOST`; `/app/log-level` is `APP_LOG_LEVEL`.
 */
export function envName(prefix: string, relativeKey: string): string {
  return prefix + relativeKey.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The source a variable source reads, in the shape SourceData holds. */
export function envSourceSpec(s: ExecEnvSource): SourceSpec {
  return s.kind === 'key' ? { kind: 'key', key: s.key } : { kind: 'namespace', namespace: s.namespace };
}

/**
 * The child's environment: tether's own minus the agent's secrets (child-env.ts), then the configuration variables in
 * manifest order (a later source wins). A missing key sets no variable. The
 * values go straight into the environment block: never through a shell.
 */
export function buildEnv(base: NodeJS.ProcessEnv, sources: readonly ExecEnvSource[], data: SourceData): NodeJS.ProcessEnv {
  const env = inheritedEnv(base);
  for (const s of sources) {
    const d = data.data(envSourceSpec(s));
    if (d?.kind === 'key' && s.kind === 'key') env[s.name] = d.value;
    else if (d?.kind === 'namespace' && s.kind === 'namespace') {
      for (const [rel, value] of Object.entries(d.values)) env[envName(s.prefix, rel)] = value;
    }
  }
  return env;
}
