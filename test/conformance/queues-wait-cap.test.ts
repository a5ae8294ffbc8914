import { describe, expect, it } from 'vitest';
import { sqliteMemoryStores, sqliteQueues } from '../helpers/queues.js';
import { queuesOverHttp } from './queues-http-impl.js';
import { CLAIM, clientId, docs, freshQueue, useQueues } from './queues-support.js';

/**
 * A server whose operator lowered `maxWaitMs` below what a consumer asks for
 * (the README's consumer waits 20 s): the wait is capped at the server's
 * maximum, in process and over HTTP alike (U15 S2: HTTP answered 400).
 */
const MAX_WAIT_MS = 400;

describe.each([sqliteQueues, queuesOverHttp('sqlite+http', sqliteMemoryStores)])('waiting beyond maxWaitMs: $name', (impl) => {
  const h = useQueues(impl, { limits: { maxWaitMs: MAX_WAIT_MS } });

  it('a claim and a list that ask for 20 s end empty after the server maximum', async () => {
    const { project, name } = await freshQueue(h);
    let started = Date.now();
    expect(await h().queues.claimMessages(project, name, CLAIM, { waitMs: 20_000 })).toBeNull();
    const claimTook = Date.now() - started;
    started = Date.now();
    expect(await h().queues.listMessages(project, name, { clientId: clientId(), waitMs: 20_000 })).toEqual({ messages: [] });
    const listTook = Date.now() - started;
    for (const took of [claimTook, listTook]) {
      // The wait is held (not skipped) and ends near the cap, far below the 20 s asked (ticks may add ~100 ms).
      expect(took).toBeGreaterThanOrEqual(MAX_WAIT_MS - 50);
      expect(took).toBeLessThan(10_000);
    }
  });

  it('a capped waiting claim still takes a message posted within the cap', async () => {
    const { project, name } = await freshQueue(h);
    const post = async (): Promise<string[]> => {
      await new Promise((r) => setTimeout(r, 50));
      return h().queues.postMessages(project, name, clientId(), docs(1));
    };
    const [c, ids] = await Promise.all([h().queues.claimMessages(project, name, CLAIM, { waitMs: 20_000 }), post()]);
    // Under load the post may land after the capped wait ended; then the claim is empty and the message is still free.
    if (c === null) expect((await h().queues.claimMessages(project, name, CLAIM))?.messages.map((m) => m.id)).toEqual(ids);
    else expect(c.messages.map((m) => m.id)).toEqual(ids);
  });
});
