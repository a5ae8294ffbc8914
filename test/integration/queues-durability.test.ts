import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpQueues } from '../../src/client/queues.js';
import { hasCode } from '../../src/lib/errors.js';
import { isQueueFault } from '../../src/queues/faults.js';
import type { Message } from '../../src/queues/types.js';
import { startEtcd, startEtcdRegistry, uniquePrefix } from '../helpers/etcd.js';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * `tether registry` processes serving Cloud Queues, killed with SIGKILL in the
 * middle of a storm of posts, claims and deletes (and, on etcd, an etcd member
 * killed too): every post a client saw acknowledged is there afterwards, no
 * message whose deletion was acknowledged comes back, and a request refused
 * as invalid stored nothing.
 */

const PROJECT = 'durable';
const QUEUE = 'storm';
const CLAIM = { ttl: 300, grace: 60 };
const CLIENT_ID = '6f1c9f36-6d0e-4c55-9d4a-2b5e0a9d7c11';

let tmp: TempDir;
const procs: RegistryProc[] = [];
const clients: HttpQueues[] = [];

beforeAll(async () => {
  tmp = await createTempDir('queues-durability');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
});
afterAll(async () => {
  await tmp?.remove();
});

function client(server: RegistryProc): HttpQueues {
  const c = new HttpQueues({ url: server.url, timeoutMs: 10_000 });
  clients.push(c);
  return c;
}

/** What the clients saw acknowledged. */
interface Ledger {
  /** Message id -> its body's `tag`, for every acknowledged post. */
  posted: Map<string, string>;
  /** Ids a bulk delete was sent for (it may have committed without its answer arriving). */
  deleting: Set<string>;
  /** Ids whose bulk delete was acknowledged. */
  deleted: Set<string>;
  /** Requests refused as invalid (their bodies are tagged `rejected-*`). */
  rejected: number;
  /** Unexpected failures of the lanes (they fail the test). */
  errors: unknown[];
}

const newLedger = (): Ledger => ({ posted: new Map(), deleting: new Set(), deleted: new Set(), rejected: 0, errors: [] });

/** True for a failure that means "not acknowledged" (server or etcd gone, or 503), not a refused request. */
function notAcknowledged(err: unknown): boolean {
  return isQueueFault(err, 'unavailable') || !isQueueFault(err);
}

/**
 * Posters, consumers and a sender of invalid batches on `q` until `stop()`
 * says so. A lane whose request fails without an answer pauses and retries
 * (the server may be gone for good: then it just keeps failing); any other
 * fault ends the lane and is recorded in `ledger.errors`.
 */
function storm(q: HttpQueues, ledger: Ledger, lane: string, stop: () => boolean): Promise<void>[] {
  const guarded = (body: (i: number) => Promise<void>) => async (): Promise<void> => {
    for (let i = 0; !stop(); i++) {
      try {
        await body(i);
      } catch (err) {
        if (hasCode(err, 'client.closed')) return; // the test is over (afterEach closed the client)
        if (!notAcknowledged(err)) {
          ledger.errors.push(err);
          return;
        }
        await sleep(20);
      }
    }
  };
  const poster = (p: number) =>
    guarded(async (i) => {
      const batch = Array.from({ length: 1 + (i % 5) }, (_, j) => ({ ttl: 3600, body: { tag: `${lane}-p${p}-${i}-${j}` } }));
      const ids = await q.postMessages(PROJECT, QUEUE, CLIENT_ID, batch);
      ids.forEach((id, j) => ledger.posted.set(id, batch[j]!.body.tag));
    });
  const consumer = guarded(async () => {
    const claim = await q.claimMessages(PROJECT, QUEUE, CLAIM, { limit: 5 });
    if (claim === null) return;
    const ids = claim.messages.map((m) => m.id);
    for (const id of ids) ledger.deleting.add(id);
    await q.deleteMessages(PROJECT, QUEUE, ids);
    for (const id of ids) ledger.deleted.add(id);
  });
  const refused = guarded(async (i) => {
    await sleep(5);
    // One valid message and one with a TTL below the minimum: the whole request is refused.
    const batch = [{ ttl: 3600, body: { tag: `rejected-${lane}-${i}` } }, { ttl: 1, body: { tag: `rejected-${lane}-${i}-bad` } }];
    const err = await q.postMessages(PROJECT, QUEUE, CLIENT_ID, batch).then(() => new Error('an invalid batch was accepted'), (e: unknown) => e);
    if (isQueueFault(err, 'invalidApiCall')) ledger.rejected++;
    else throw err;
  });
  return [...[0, 1, 2, 3, 4, 5].map((p) => poster(p)()), consumer(), consumer(), refused()];
}

/** Every message of the queue (claimed ones included), paging with markers. */
async function everything(q: HttpQueues): Promise<Message[]> {
  const all: Message[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await q.listMessages(PROJECT, QUEUE, { clientId: '00000000-0000-4000-8000-000000000000', marker, limit: 20, echo: true, includeClaimed: true });
    if (page.messages.length === 0) return all;
    all.push(...page.messages);
    marker = page.marker;
  }
}

/** The ledger's promises hold on what `q` serves now. */
async function verify(q: HttpQueues, ledger: Ledger): Promise<void> {
  const messages = await everything(q);
  const tags = new Map(messages.map((m) => [m.id, (m.body as { tag: string }).tag]));
  const lost = [...ledger.posted].filter(([id]) => !ledger.deleting.has(id) && tags.get(id) === undefined);
  expect(lost, 'acknowledged posts missing').toEqual([]);
  for (const [id, tag] of ledger.posted) if (tags.has(id)) expect(tags.get(id), id).toBe(tag);
  const back = [...ledger.deleted].filter((id) => tags.has(id));
  expect(back, 'acknowledged deletes undone').toEqual([]);
  expect([...tags.values()].filter((t) => t.startsWith('rejected')), 'rejected requests stored').toEqual([]);
  // Markers go on after the restart: a new post lists after everything older.
  const [fresh] = await q.postMessages(PROJECT, QUEUE, CLIENT_ID, [{ ttl: 3600, body: { tag: 'after' } }]);
  const after = await everything(q);
  expect(after.at(-1)?.id).toBe(fresh);
}

/** Waits for `what`, failing at once when a lane failed. */
async function until(ledger: Ledger, what: () => boolean, timeoutMs = 45_000): Promise<void> {
  await expect.poll(() => ledger.errors.length > 0 || what(), { timeout: timeoutMs, interval: 20 }).toBe(true);
  expect(ledger.errors).toEqual([]);
}

describe('queues durability on SQLite', () => {
  it('keeps acknowledged posts and deletes across SIGKILL of the server', async () => {
    const data = join(tmp.path, 'sqlite');
    const first = await startRegistry(data);
    procs.push(first);
    const q = client(first);
    expect(await q.createQueue(PROJECT, QUEUE)).toBe(true);
    const ledger = newLedger();
    let stop = false;
    const lanes = storm(q, ledger, 'a', () => stop);
    await until(ledger, () => ledger.posted.size > 400 && ledger.deleted.size > 50 && ledger.rejected > 5);
    expect((await first.stop('SIGKILL')).signal).toBe('SIGKILL');
    stop = true;
    await Promise.all(lanes);
    expect(ledger.errors).toEqual([]);

    const second = await startRegistry(data, first.port);
    procs.push(second);
    await verify(client(second), ledger);
  }, 150_000);
});

describe('queues durability on a 3-member etcd cluster', () => {
  it('keeps acknowledged posts and deletes when a server and then an etcd member are killed', async () => {
    const cluster = await startEtcd(3);
    try {
      const prefix = uniquePrefix();
      const [a, b] = [await startEtcdRegistry(cluster.endpoints, prefix), await startEtcdRegistry(cluster.endpoints, prefix)];
      procs.push(a, b);
      const [qa, qb] = [client(a), client(b)];
      expect(await qa.createQueue(PROJECT, QUEUE)).toBe(true);
      const ledger = newLedger();
      let stop = false;
      const lanes = [...storm(qa, ledger, 'a', () => stop), ...storm(qb, ledger, 'b', () => stop)];
      await until(ledger, () => ledger.posted.size > 300 && ledger.deleted.size > 30);

      expect((await a.stop('SIGKILL')).signal).toBe('SIGKILL');
      const atServerKill = ledger.posted.size;
      await until(ledger, () => ledger.posted.size > atServerKill + 200);

      await cluster.members[0]!.kill();
      const atMemberKill = ledger.posted.size;
      // b keeps serving on the two members left.
      await until(ledger, () => ledger.posted.size > atMemberKill + 200);
      stop = true;
      await Promise.all(lanes);
      expect(ledger.errors).toEqual([]);

      // A fresh server over what is left of the cluster sees everything.
      const c = await startEtcdRegistry(cluster.endpoints.slice(1), prefix);
      procs.push(c);
      await verify(client(c), ledger);
    } finally {
      await cluster.stop();
    }
  }, 240_000);
});
