/** The normalized manifest: the only shape the rest of the agent sees (frozen). */

export interface Endpoint {
  /** Server root, e.g. http://127.0.0.1:8470 */
  base: string;
  tenant: string;
  /** As written, e.g. http://127.0.0.1:8470/v1.0/1234 */
  url: string;
}

export interface Upstream {
  endpoints: Endpoint[];
  token: string | null;
  tokenFile: string | null;
  timeoutMs: number;
  tls: { caFile: string | null; certFile: string | null; keyFile: string | null } | null;
}

export interface AgentSettings {
  listen: { host: string; port: number };
  stateDir: string;
  heartbeat: 'session' | 'service';
  /** Explicit session timeout, or null for the smallest service heartbeat_timeout. */
  sessionTimeoutSec: number | null;
  logLevel: string;
}

export type ProbeSpec =
  | {
      kind: 'http';
      url: string;
      method: string;
      headers: Record<string, string>;
      /** Inclusive ranges of healthy status codes. */
      expectStatus: Array<[number, number]>;
      bodyContains: string | null;
      tlsSkipVerify: boolean;
    }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'exec'; argv: string[] }
  | { kind: 'ttl'; ttlMs: number };

export interface CheckSpec {
  probe: ProbeSpec;
  intervalMs: number;
  timeoutMs: number;
  initialDelayMs: number;
  rise: number;
  fall: number;
}

export interface ServiceSpec {
  id: string;
  tags: string[];
  metadata: Record<string, string>;
  heartbeatTimeoutSec: number;
  onUnhealthy: 'deregister' | 'keep';
  /** Null: registered for as long as the agent runs. */
  check: CheckSpec | null;
  /** Where it was declared (file:line), for status and errors. */
  origin: string;
}

export interface Manifest {
  upstream: Upstream | null;
  agent: AgentSettings;
  services: ServiceSpec[];
  /** The files it was read from, in order. */
  files: string[];
}

export const DEFAULTS = {
  listen: '127.0.0.1:8471',
  stateDir: '/var/lib/tether',
  heartbeatTimeoutSec: 15,
  upstreamTimeoutMs: 5000,
  intervalMs: 10_000,
  timeoutMs: 2000,
  rise: 1,
  fall: 3,
} as const;
