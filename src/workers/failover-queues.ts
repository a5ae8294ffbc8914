import { TetherError } from '../lib/errors.js';
import { isQueueFault } from '../queues/faults.js';
import type { Queues } from '../queues/queues.js';

/**
 * One queues service reached through several servers (the manifest's
 * upstream.url list, servers over one etcd), as FailoverRegistry does for the
 * registry: each call goes to the server that answered last and moves on, in
 * order, when that server cannot answer (unreachable, timed out, 503). Any
 * other answer, a fault included, is returned as is. Claims live in the
 * shared store, so a claim made through one server is renewed and deleted
 * through another. A post that failed over may have been applied by the
 * server that did not answer (at least once, as documented for workers).
 */
export function failoverQueues(members: readonly Queues[], onSwitch: (from: number, to: number, err: unknown) => void = () => {}): Queues {
  if (members.length === 0) throw new TetherError('client.invalid', 'failoverQueues needs at least one queues client');
  if (members.length === 1) return members[0] as Queues;
  let current = 0;
  const call = async (method: keyof Queues, args: unknown[]): Promise<unknown> => {
    const start = current;
    const signal = args.find((a): a is AbortSignal => a instanceof AbortSignal);
    let last: unknown;
    for (let i = 0; i < members.length; i++) {
      const at = (start + i) % members.length;
      const member = members[at] as Queues;
      try {
        const value = await (member[method] as (...a: unknown[]) => Promise<unknown>).apply(member, args);
        // Only a call that itself moved on switches servers.
        if (at !== start) {
          onSwitch(start, at, last);
          current = at;
        }
        return value;
      } catch (err) {
        if (!canFailOver(err) || signal?.aborted === true) throw err;
        last = err;
      }
    }
    throw last;
  };
  const first = members[0] as Queues;
  return new Proxy(first, {
    get(_target, prop) {
      if (prop === 'close') return async () => void (await Promise.all(members.map((m) => m.close())));
      const v = Reflect.get(first, prop) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => call(prop as keyof Queues, args);
    },
  });
}

/** No answer from that server, or "try again" (503): another server may answer. */
function canFailOver(err: unknown): boolean {
  if (isQueueFault(err)) return err.status === 503;
  return err instanceof TetherError && (err.code === 'client.unreachable' || err.code === 'client.timeout');
}
