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
  tls: { caFile: string | null; certFile: string | null; keyFile: string | null; serverName: string | null } | null;
}

export interface AgentSettings {
  listen: { host: string; port: number };
  stateDir: string;
  heartbeat: 'session' | 'service';
  /** Explicit session timeout, or null for the smallest service heartbeat_timeout. */
  sessionTimeoutSec: number | null;
  logLevel: string;
  /** Full resync of file data with the registry. */
  resyncIntervalMs: number;
  /** Where the local API token is (TETHER_AGENT_TOKEN overrides it); null: none from the manifest. */
  apiTokenFile: string | null;
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
  | { kind: 'ttl'; ttlMs: number }
  /** grpc.health.v1.Health/Check; `service` '' asks about the whole server. */
  | { kind: 'grpc'; host: string; port: number; service: string; tls: boolean; tlsSkipVerify: boolean };

export interface CheckSpec {
  /** Unique within its service: status and metrics name each check by it (the normalizer sets it; default: the kind). */
  name?: string;
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
  /** With onUnhealthy keep: deregister once critical this long (re-registered when it passes again); null: kept while critical. */
  deregisterCriticalAfterMs: number | null;
  /** Null: registered for as long as the agent runs. With several checks, the first of `checks`. */
  check: CheckSpec | null;
  /** Every check (`checks:` in the manifest, or the one `check:`); all must pass. See checksOf. */
  checks?: CheckSpec[];
  /** Where it was declared (file:line), for status and errors. */
  origin: string;
}

/** A reload action: what runs when a file's bytes change (or a hook fires). */
export type ActionSpec =
  /** Send a signal to the process whose pid is in `pidfile`, or to every process named `process`. */
  | { kind: 'signal'; signal: NodeJS.Signals; pidfile: string | null; process: string | null }
  /** Run argv (no shell unless `shell`); exit 0 is success; the process group is killed at the timeout. */
  | { kind: 'exec'; argv: string[]; shell: boolean; timeoutMs: number }
  /** An HTTP request; 2xx is success. */
  | { kind: 'http'; url: string; method: string; headers: Record<string, string>; timeoutMs: number }
  /** Post a message to a queue of the upstream tenant's project; `body` is inline LiquidJS text (null: the input itself). */
  | { kind: 'queue'; queue: string; body: string | null; ttlSec: number };

/** Where a file's data comes from. */
export type SourceSpec =
  /** One configuration value. */
  | { kind: 'key'; key: string }
  /** Every value under a namespace (keys relative to it). */
  | { kind: 'namespace'; namespace: string }
  /** Services, optionally by tag and id prefix, sorted by id; `floor` keeps the last good list when the list shrinks below it. */
  | { kind: 'services'; tag: string | null; idPrefix: string | null; floor: { min: number | null; percent: number | null; windowMs: number } | null };

export type FileFormat = 'raw' | 'json' | 'yaml' | 'env' | 'template';

export interface FileSpec {
  /** Absolute destination path. */
  path: string;
  /** One unnamed source (`from: { key: ... }`) or named ones (`from: { api: {...}, tuning: {...} }`). */
  sources: Array<{ name: string | null; source: SourceSpec }>;
  format: FileFormat;
  /** Template file (absolute) when format is `template`. */
  template: string | null;
  /** File mode, e.g. 0o640; null keeps the umask default (or the existing file's mode). */
  mode: number | null;
  /** User and group, names or numbers; null leaves them as the process creates them. */
  owner: string | number | null;
  group: string | number | null;
  /** Run on the staged file (TETHER_STAGED_PATH) before the swap; failing keeps the old file. */
  check: string[] | null;
  /** Action (by name, or inline) run after the bytes changed. */
  onChange: { name: string | null; action: ActionSpec } | null;
  /** Quiescence: render after `minMs` of calm, and at most `maxMs` after the first change of a burst. */
  waitMinMs: number;
  waitMaxMs: number;
  /** A missing key or namespace: keep the file as it is, delete it, or report an error. */
  onMissing: 'keep' | 'delete' | 'error';
  origin: string;
}

/** The events feed as an automation platform: run an action on matching events. */
export interface HookSpec {
  on: string[];
  filter: { serviceTag: string | null; serviceIdPrefix: string | null; keyPrefix: string | null };
  action: { name: string | null; action: ActionSpec };
  origin: string;
}

/** What a change does to the `tether exec` child. */
export type ExecOnChange = { kind: 'restart' } | { kind: 'none' } | { kind: 'signal'; signal: NodeJS.Signals };

/** An environment variable source of the child: one key, or every key of a namespace. */
export type ExecEnvSource = { kind: 'key'; key: string; name: string } | { kind: 'namespace'; namespace: string; prefix: string };

/** The manifest's `exec` section (`tether exec`). */
export interface ExecSpec {
  /** Null: the command comes from the command line only. */
  command: string[] | null;
  env: ExecEnvSource[];
  /** The default for files; `files` overrides it by absolute path. */
  onChange: ExecOnChange;
  files: Record<string, ExecOnChange>;
  stopSignal: NodeJS.Signals;
  killTimeoutMs: number;
  restart: 'always' | 'on-failure' | 'never';
  restartDelayMs: number;
  restartMaxDelayMs: number;
  waitMinMs: number;
  waitMaxMs: number;
  splayMs: number;
  renderTimeoutMs: number;
  minUptimeMs: number;
  drainMs: number;
  service: ServiceSpec | null;
}

/** A queue worker: claims messages of `queue` and runs `action` per message (src/workers). */
export interface WorkerSpec {
  name: string;
  queue: string;
  concurrency: number;
  /** Claim ttl and grace, seconds. */
  ttlSec: number;
  graceSec: number;
  filter: {
    types: string[] | null;
    serviceTag: string | null;
    serviceIdPrefix: string | null;
    keyPrefix: string | null;
    match: Record<string, string | number | boolean> | null;
  };
  action: { name: string | null; action: ActionSpec };
  attempts: number;
  deadLetter: string | null;
  retryDelayMs: number;
  origin: string;
}

export interface Manifest {
  upstream: Upstream | null;
  agent: AgentSettings;
  services: ServiceSpec[];
  /** Named actions, shared by files and hooks. */
  actions: Record<string, ActionSpec>;
  files: FileSpec[];
  hooks: HookSpec[];
  /** The `exec` section, or null. */
  exec: ExecSpec | null;
  /** Queue workers. */
  workers: WorkerSpec[];
  /** The manifest files it was read from, in order. */
  sourceFiles: string[];
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
  resyncIntervalMs: 300_000,
  execActionTimeoutMs: 30_000,
  httpActionTimeoutMs: 10_000,
} as const;

/** A service's checks: `checks` when set, else its one `check` (specs built before `checks` existed have only that). */
export function checksOf(spec: Pick<ServiceSpec, 'check' | 'checks'>): readonly CheckSpec[] {
  return spec.checks ?? (spec.check ? [spec.check] : []);
}
