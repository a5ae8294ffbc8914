import { TetherError } from '../lib/errors.js';
import { RegistryFault } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import type {
  ConfigListOptions,
  ConfigValue,
  CreateServiceReply,
  CreateSessionReply,
  EventListOptions,
  Limits,
  Page,
  RegistryEvent,
  Service,
  ServiceListOptions,
  Session,
  TokenReply,
} from '../registry/types.js';

/**
 * One registry reached through several servers (registry servers over one
 * etcd cluster): each call goes to the server that answered last, and moves
 * on, in the given order, to the next one when that server cannot answer it
 * (unreachable, timed out, or 503). Any other answer, a fault included, is
 * the registry's and is returned as is.
 *
 * A call that failed over may have been applied by the server that did not
 * answer (the reply was lost); callers already handle that (a heartbeat with
 * a consumed token is a 404 and the agent registers again).
 */
export class FailoverRegistry implements Registry {
  private current = 0;

  constructor(
    private readonly members: readonly Registry[],
    private readonly onSwitch: (from: number, to: number, err: unknown) => void = () => {},
  ) {
    if (members.length === 0) throw new TetherError('client.invalid', 'FailoverRegistry needs at least one registry');
  }

  /** Index of the server calls go to now. */
  get active(): number {
    return this.current;
  }

  private async call<T>(fn: (r: Registry) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const start = this.current;
    let last: unknown;
    for (let i = 0; i < this.members.length; i++) {
      const at = (start + i) % this.members.length;
      try {
        const value = await fn(this.members[at]!);
        // Only a call that itself moved on switches servers (a slow success on the old one does not move back).
        if (at !== start) {
          this.onSwitch(start, at, last);
          this.current = at;
        }
        return value;
      } catch (err) {
        if (!canFailOver(err) || signal?.aborted === true) throw err;
        last = err;
      }
    }
    throw last;
  }

  getLimits(t: string, signal?: AbortSignal): Promise<Limits> {
    return this.call((r) => r.getLimits(t, signal), signal);
  }
  listServices(t: string, opts?: ServiceListOptions, signal?: AbortSignal): Promise<Page<Service>> {
    return this.call((r) => r.listServices(t, opts, signal), signal);
  }
  getService(t: string, id: string, signal?: AbortSignal): Promise<Service> {
    return this.call((r) => r.getService(t, id, signal), signal);
  }
  createService(t: string, body: unknown, signal?: AbortSignal): Promise<CreateServiceReply> {
    return this.call((r) => r.createService(t, body, signal), signal);
  }
  updateService(t: string, id: string, body: unknown, signal?: AbortSignal): Promise<void> {
    return this.call((r) => r.updateService(t, id, body, signal), signal);
  }
  deleteService(t: string, id: string, signal?: AbortSignal): Promise<void> {
    return this.call((r) => r.deleteService(t, id, signal), signal);
  }
  heartbeatService(t: string, id: string, body: unknown, signal?: AbortSignal): Promise<TokenReply> {
    return this.call((r) => r.heartbeatService(t, id, body, signal), signal);
  }
  listConfig(t: string, opts?: ConfigListOptions, signal?: AbortSignal): Promise<Page<ConfigValue>> {
    return this.call((r) => r.listConfig(t, opts, signal), signal);
  }
  getConfig(t: string, id: string, signal?: AbortSignal): Promise<ConfigValue> {
    return this.call((r) => r.getConfig(t, id, signal), signal);
  }
  setConfig(t: string, id: string, body: unknown, signal?: AbortSignal): Promise<void> {
    return this.call((r) => r.setConfig(t, id, body, signal), signal);
  }
  deleteConfig(t: string, id: string, signal?: AbortSignal): Promise<void> {
    return this.call((r) => r.deleteConfig(t, id, signal), signal);
  }
  listEvents(t: string, opts?: EventListOptions, signal?: AbortSignal): Promise<Page<RegistryEvent>> {
    return this.call((r) => r.listEvents(t, opts, signal), signal);
  }
  listSessions(t: string, opts?: ServiceListOptions, signal?: AbortSignal): Promise<Page<Session>> {
    return this.call((r) => r.listSessions(t, opts, signal), signal);
  }
  getSession(t: string, id: string, signal?: AbortSignal): Promise<Session> {
    return this.call((r) => r.getSession(t, id, signal), signal);
  }
  createSession(t: string, body: unknown, signal?: AbortSignal): Promise<CreateSessionReply> {
    return this.call((r) => r.createSession(t, body, signal), signal);
  }
  updateSession(t: string, id: string, body: unknown, signal?: AbortSignal): Promise<void> {
    return this.call((r) => r.updateSession(t, id, body, signal), signal);
  }
  deleteSession(t: string, id: string, signal?: AbortSignal): Promise<void> {
    return this.call((r) => r.deleteSession(t, id, signal), signal);
  }
  heartbeatSession(t: string, id: string, body: unknown, signal?: AbortSignal): Promise<TokenReply> {
    return this.call((r) => r.heartbeatSession(t, id, body, signal), signal);
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.close()));
  }
}

/** No answer from that server, or "try again" (503): another server may answer. */
function canFailOver(err: unknown): boolean {
  if (err instanceof RegistryFault) return err.status === 503;
  return err instanceof TetherError && (err.code === 'client.unreachable' || err.code === 'client.timeout');
}
