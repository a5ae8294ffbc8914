import { parseDuration } from '../lib/duration.js';
import type { ManifestIssue } from './issues.js';
import { hostPort, serviceChecks } from './normalize-checks.js';
import { normalizeExec } from './normalize-exec.js';
import { normalizeOutputs, type OutputsPart } from './normalize-files.js';
import { DEFAULTS, type AgentSettings, type Endpoint, type ExecSpec, type ServiceSpec, type Upstream } from './model.js';
import type { ParsedManifest, ParsedService } from './schema.js';

type Where = (path: PropertyKey[], message: string) => ManifestIssue;

/** What one file contributes; sections are null when the file does not have them. */
export interface FilePart {
  upstream: Upstream | null;
  agent: AgentSettings | null;
  outputs: OutputsPart;
  exec: ExecSpec | null;
  services: Array<{ spec: ServiceSpec; issueAt: (message: string) => ManifestIssue }>;
  /** Locates a path of this file, for issues found while merging. */
  where: Where;
}

/**
 * Turns one file's structurally valid content into the normalized model,
 * applying the rules zod cannot express (one probe kind, timeout ranges,
 * token or token_file). Returns every issue, not just the first.
 */
export function normalizeFile(parsed: ParsedManifest, baseDir: string, where: Where): { part: FilePart; issues: ManifestIssue[] } {
  const issues: ManifestIssue[] = [];
  const part: FilePart = {
    upstream: parsed.upstream ? upstream(parsed.upstream, where, issues) : null,
    agent: parsed.agent ? agent(parsed.agent, where, issues) : null,
    outputs: normalizeOutputs(parsed, baseDir, where, issues),
    exec: parsed.exec ? normalizeExec(parsed.exec, baseDir, where, issues) : null,
    services: parsed.services.map((s, i) => ({
      spec: service(s, ['services', i], where, issues, baseDir),
      issueAt: (message: string) => where(['services', i, 'id'], message),
    })),
    where,
  };
  return { part, issues };
}

function seconds(v: string | number, path: PropertyKey[], where: Where, issues: ManifestIssue[], min: number, max: number): number {
  const ms = parseDuration(v);
  if (ms % 1000 !== 0 || ms < min * 1000 || ms > max * 1000) {
    issues.push(where(path, `must be a whole number of seconds from ${min} to ${max}`));
  }
  return Math.round(ms / 1000);
}

function endpoint(url: string, path: PropertyKey[], where: Where, issues: ManifestIssue[]): Endpoint {
  const u = new URL(url);
  const m = /^(.*)\/v1\.0\/([A-Za-z0-9_.-]+)\/?$/.exec(u.pathname);
  if (!m || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    issues.push(where(path, 'must be an http(s) URL ending in /v1.0/{tenant}, e.g. http://127.0.0.1:8470/v1.0/1234'));
    return { base: u.origin, tenant: 'invalid', url };
  }
  return { base: `${u.origin}${m[1]}`, tenant: m[2] as string, url };
}

function upstream(u: NonNullable<ParsedManifest['upstream']>, where: Where, issues: ManifestIssue[]): Upstream {
  const urls = Array.isArray(u.url) ? u.url : [u.url];
  if (u.token !== undefined && u.token_file !== undefined) issues.push(where(['upstream', 'token_file'], 'give token or token_file, not both'));
  const endpoints = urls.map((url, i) => endpoint(url, Array.isArray(u.url) ? ['upstream', 'url', i] : ['upstream', 'url'], where, issues));
  // A list is one registry reached through several servers: one tenant.
  endpoints.forEach((e, i) => {
    if (i > 0 && e.tenant !== 'invalid' && endpoints[0]!.tenant !== 'invalid' && e.tenant !== endpoints[0]!.tenant) {
      issues.push(where(['upstream', 'url', i], `names tenant ${e.tenant}, but upstream.url[0] names ${endpoints[0]!.tenant}: every URL must name the same tenant`));
    }
  });
  return {
    endpoints,
    token: u.token ?? null,
    tokenFile: u.token_file ?? null,
    timeoutMs: u.timeout === undefined ? DEFAULTS.upstreamTimeoutMs : parseDuration(u.timeout),
    tls: u.tls ? { caFile: u.tls.ca_file ?? null, certFile: u.tls.cert_file ?? null, keyFile: u.tls.key_file ?? null, serverName: u.tls.server_name ?? null } : null,
  };
}

function agent(a: NonNullable<ParsedManifest['agent']>, where: Where, issues: ManifestIssue[]): AgentSettings {
  return {
    listen: hostPort(a.listen),
    stateDir: a.state_dir ?? DEFAULTS.stateDir,
    heartbeat: a.heartbeat,
    sessionTimeoutSec: a.session_timeout === undefined ? null : seconds(a.session_timeout, ['agent', 'session_timeout'], where, issues, 3, 120),
    logLevel: a.log_level ?? 'info',
    resyncIntervalMs: a.resync_interval === undefined ? DEFAULTS.resyncIntervalMs : parseDuration(a.resync_interval),
    apiTokenFile: a.api_token_file ?? null,
  };
}

export function service(s: ParsedService, path: PropertyKey[], where: Where, issues: ManifestIssue[], baseDir?: string): ServiceSpec {
  const metadata = Object.fromEntries(Object.entries(s.metadata).map(([k, v]) => [k, String(v)]));
  if (Object.keys(metadata).length > 20) issues.push(where([...path, 'metadata'], 'at most 20 entries'));
  for (const [k, v] of Object.entries(metadata)) {
    if (v.length < 1 || v.length > 255) issues.push(where([...path, 'metadata', k], 'must be 1..255 characters'));
  }
  const origin = where(path, '');
  return {
    id: s.id,
    tags: s.tags,
    metadata,
    heartbeatTimeoutSec:
      s.heartbeat_timeout === undefined ? DEFAULTS.heartbeatTimeoutSec : seconds(s.heartbeat_timeout, [...path, 'heartbeat_timeout'], where, issues, 3, 120),
    onUnhealthy: s.on_unhealthy,
    deregisterCriticalAfterMs: criticalAfter(s, path, where, issues),
    ...serviceChecks(s, path, where, issues, baseDir),
    origin: `${origin.file}:${origin.line}`,
  };
}

/** deregister_critical_after: only for a service kept while critical (one that deregisters leaves at once anyway). */
function criticalAfter(s: ParsedService, path: PropertyKey[], where: Where, issues: ManifestIssue[]): number | null {
  if (s.deregister_critical_after === undefined) return null;
  const at = [...path, 'deregister_critical_after'];
  const ms = parseDuration(s.deregister_critical_after);
  if (s.on_unhealthy !== 'keep') issues.push(where(at, 'applies only with on_unhealthy: keep (a service that deregisters when unhealthy leaves at once)'));
  if (ms < 1000) issues.push(where(at, 'must be at least 1s'));
  if (s.check === undefined && s.checks === undefined) issues.push(where(at, 'needs a check (a service without one is never critical)'));
  return ms;
}
