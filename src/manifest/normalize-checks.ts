import { parseDuration } from '../lib/duration.js';
import { commandAt } from './command-path.js';
import type { ManifestIssue } from './issues.js';
import { DEFAULTS, type CheckSpec, type ProbeSpec, type ServiceSpec } from './model.js';
import type { ParsedCheck, ParsedService } from './schema.js';

type Where = (path: PropertyKey[], message: string) => ManifestIssue;

const KINDS = ['http', 'tcp', 'exec', 'ttl', 'grpc'] as const;

/** `host:port` or `[v6]:port` as written (the schema checked the shape). */
export function hostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  return { host: v.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(v.slice(i + 1)) };
}

/**
 * A service's `check` or `checks`: every check named (default: its kind;
 * `kind-N` where a kind repeats), `check` being the first. Issues: both
 * forms given, a name given twice, more than one ttl check (TTL reports
 * name the service, not a check).
 */
export function serviceChecks(s: ParsedService, path: PropertyKey[], where: Where, issues: ManifestIssue[], baseDir?: string): Pick<ServiceSpec, 'check' | 'checks'> {
  if (s.check !== undefined && s.checks !== undefined) issues.push(where([...path, 'checks'], 'give check or checks, not both'));
  const parsed = s.checks ?? (s.check === undefined ? [] : [s.check]);
  const at = (i: number): PropertyKey[] => (s.checks === undefined ? [...path, 'check'] : [...path, 'checks', i]);
  const checks = parsed.map((c, i) => check(c, at(i), where, issues, baseDir));
  const kindCount = new Map<string, number>();
  for (const c of checks) kindCount.set(c.probe.kind, (kindCount.get(c.probe.kind) ?? 0) + 1);
  const seen = new Set<string>();
  checks.forEach((c, i) => {
    const repeats = (kindCount.get(c.probe.kind) ?? 0) > 1;
    c.name = parsed[i]?.name ?? (repeats ? `${c.probe.kind}-${i + 1}` : c.probe.kind);
    if (seen.has(c.name)) issues.push(where([...at(i), 'name'], `a check named "${c.name}" is already defined for this service`));
    seen.add(c.name);
  });
  if ((kindCount.get('ttl') ?? 0) > 1) issues.push(where([...path, 'checks'], 'at most one ttl check per service (a TTL report names the service)'));
  return { check: checks[0] ?? null, checks };
}

function check(c: ParsedCheck, path: PropertyKey[], where: Where, issues: ManifestIssue[], baseDir?: string): CheckSpec {
  const kinds = KINDS.filter((k) => c[k] !== undefined);
  if (kinds.length !== 1) issues.push(where(path, `needs exactly one of ${KINDS.join(', ')} (found ${kinds.length === 0 ? 'none' : kinds.join(', ')})`));
  const spec: CheckSpec = {
    probe: probe(c, baseDir),
    intervalMs: c.interval === undefined ? DEFAULTS.intervalMs : parseDuration(c.interval),
    timeoutMs: c.timeout === undefined ? DEFAULTS.timeoutMs : parseDuration(c.timeout),
    initialDelayMs: c.initial_delay === undefined ? 0 : parseDuration(c.initial_delay),
    rise: c.rise ?? DEFAULTS.rise,
    fall: c.fall ?? DEFAULTS.fall,
  };
  if (spec.intervalMs < 100) issues.push(where([...path, 'interval'], 'must be at least 100ms'));
  if (spec.timeoutMs < 10) issues.push(where([...path, 'timeout'], 'must be at least 10ms'));
  return spec;
}

function statusRanges(v: string | number): Array<[number, number]> {
  return String(v)
    .split(',')
    .map((part) => {
      const [lo, hi] = part.trim().split('-').map(Number) as [number, number | undefined];
      return [lo, hi ?? lo];
    });
}

function probe(c: ParsedCheck, baseDir?: string): ProbeSpec {
  if (c.http !== undefined) {
    const h = typeof c.http === 'string' ? { url: c.http, method: 'GET', headers: {}, expect_status: '200-299', tls_skip_verify: false } : c.http;
    return {
      kind: 'http',
      url: h.url,
      method: h.method,
      headers: h.headers,
      expectStatus: statusRanges(h.expect_status),
      bodyContains: 'body_contains' in h && h.body_contains !== undefined ? h.body_contains : null,
      tlsSkipVerify: h.tls_skip_verify,
    };
  }
  if (c.tcp !== undefined) return { kind: 'tcp', ...hostPort(c.tcp) };
  if (c.exec !== undefined) return { kind: 'exec', argv: baseDir === undefined ? c.exec : commandAt(c.exec, baseDir) };
  if (c.grpc !== undefined) {
    const g = typeof c.grpc === 'string' ? { address: c.grpc, service: '', tls: false, tls_skip_verify: false } : c.grpc;
    return { kind: 'grpc', ...hostPort(g.address), service: g.service, tls: g.tls, tlsSkipVerify: g.tls_skip_verify };
  }
  return { kind: 'ttl', ttlMs: c.ttl === undefined ? 0 : parseDuration(c.ttl) };
}
