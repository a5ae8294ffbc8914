import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TetherError } from '../lib/errors.js';

/** One maintenance switch: why, and since when (ms). */
export interface MaintenanceEntry {
  reason: string | null;
  since: number;
}

/** Maintenance mode as `/v1/status` and `GET /v1/maint` show it. */
export interface MaintenanceSnapshot {
  /** Agent-wide maintenance: every service is out of discovery. */
  agent: MaintenanceEntry | null;
  /** Per service, by id. */
  services: Record<string, MaintenanceEntry>;
}

/** The file in state_dir; its shape is MaintenanceSnapshot. */
export const MAINTENANCE_FILE = 'maintenance.json';
/** Longest reason kept (it is shown in status and logs, not a document store). */
export const MAX_REASON = 1024;

/**
 * Maintenance mode (`tether maint`), Consul-style: the whole agent or single
 * services leave discovery until disabled. It is operator intent, so it
 * outlives manifest reloads and agent restarts: every change is written to
 * state_dir/maintenance.json (temp file, fsync, rename, fsync of the
 * directory) before it takes effect, so a change the caller was told about
 * survives a crash. Entries of ids the manifest no longer has are kept: a
 * service removed and added back is still in maintenance.
 */
export class Maintenance {
  private agent: MaintenanceEntry | null = null;
  private readonly services = new Map<string, MaintenanceEntry>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly dir: string) {}

  get path(): string {
    return join(this.dir, MAINTENANCE_FILE);
  }

  /**
   * Reads the saved state. A missing file is no maintenance. An unreadable
   * one (not ours: we only ever rename whole files into place) fails safe:
   * the agent starts in agent-wide maintenance saying why, so no service the
   * operator took out comes back by accident; `tether maint disable` clears it.
   */
  static async load(stateDir: string, onProblem: (message: string) => void = () => {}): Promise<Maintenance> {
    const m = new Maintenance(stateDir);
    let text: string;
    try {
      text = await readFile(m.path, 'utf8');
    } catch (err) {
      // No such file, or state_dir is not a directory: there is no saved maintenance.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return m;
      return m.failSafe(`cannot read ${m.path}: ${(err as Error).message}`, onProblem);
    }
    try {
      m.adopt(parseSnapshot(JSON.parse(text)));
    } catch (err) {
      return m.failSafe(`${m.path} is not a maintenance state file (${(err as Error).message})`, onProblem);
    }
    return m;
  }

  private failSafe(message: string, onProblem: (message: string) => void): Maintenance {
    this.agent = { reason: `${message}; every service stays out of discovery until \`tether maint disable\``, since: Date.now() };
    onProblem(message);
    return this;
  }

  private adopt(s: MaintenanceSnapshot): void {
    this.agent = s.agent;
    this.services.clear();
    for (const [id, e] of Object.entries(s.services)) this.services.set(id, e);
  }

  /** True while the service is out of discovery: its own maintenance or the agent's. */
  isOn(id: string): boolean {
    return this.agent !== null || this.services.has(id);
  }

  /** The entry that keeps the service out (its own first), or null. */
  entryFor(id: string): MaintenanceEntry | null {
    return this.services.get(id) ?? this.agent;
  }

  snapshot(): MaintenanceSnapshot {
    return { agent: this.agent && { ...this.agent }, services: Object.fromEntries([...this.services].map(([id, e]) => [id, { ...e }])) };
  }

  /**
   * Enables (or disables) maintenance of `service`, or agent-wide for null.
   * Enabling again keeps `since` and takes the new reason. Resolves once the
   * change is on disk, then applies it; rejects with `maint.persist_failed`
   * (nothing changed) when it cannot be written. Changes run one at a time,
   * each from the state the previous one left, so concurrent calls lose
   * nothing. Resolves with whether anything changed.
   */
  set(service: string | null, enable: boolean, reason: string | null, now = Date.now()): Promise<boolean> {
    const run = this.writing.then(() => this.apply(service, enable, reason, now));
    // The chain goes on after a failure; this caller still sees it.
    this.writing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async apply(service: string | null, enable: boolean, reason: string | null, now: number): Promise<boolean> {
    const next = this.snapshot();
    const cur = service === null ? next.agent : (next.services[service] ?? null);
    if (!enable && cur === null) return false;
    const entry = enable ? { reason: reason === null ? null : reason.slice(0, MAX_REASON), since: cur?.since ?? now } : null;
    if (enable && cur !== null && cur.reason === entry?.reason) return false;
    if (service === null) next.agent = entry;
    else if (entry) next.services[service] = entry;
    else delete next.services[service];
    try {
      await writeDurably(this.dir, this.path, `${JSON.stringify(next, null, 2)}\n`);
    } catch (err) {
      throw new TetherError('maint.persist_failed', `cannot save maintenance state to ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.adopt(next);
    return true;
  }
}

/** Temp file, fsync, rename over `path`, fsync of the directory: the old or the new state, whole, after a crash. */
async function writeDurably(dir: string, path: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

function parseEntry(v: unknown, what: string): MaintenanceEntry {
  const e = v as { reason?: unknown; since?: unknown } | null;
  if (typeof e !== 'object' || e === null || typeof e.since !== 'number' || (e.reason !== null && typeof e.reason !== 'string')) {
    throw new Error(`${what} must be { reason, since }`);
  }
  return { reason: e.reason, since: e.since };
}

function parseSnapshot(v: unknown): MaintenanceSnapshot {
  const s = v as { agent?: unknown; services?: unknown } | null;
  if (typeof s !== 'object' || s === null || typeof s.services !== 'object' || s.services === null) throw new Error('expected { agent, services }');
  const services: Record<string, MaintenanceEntry> = {};
  for (const [id, e] of Object.entries(s.services)) services[id] = parseEntry(e, `services.${id}`);
  return { agent: s.agent === null || s.agent === undefined ? null : parseEntry(s.agent, 'agent'), services };
}
