import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load.js';
import type { ActionSpec } from '../../src/manifest/model.js';
import { runAction } from '../../src/materialize/actions.js';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import type { QueuePoster } from '../../src/workers/queue-action.js';
import { Worker } from '../../src/workers/worker.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** The `queue` action kind: a templated message posted to a queue, from any action site (here: runAction, a worker). */

const P = 'p1';
let store: Store;
let queues: QueueService;
let poster: QueuePoster;

beforeEach(async () => {
  store = openSqliteStore({ path: ':memory:' });
  queues = await QueueService.open(store, { logger: silentLogger(), limits: { minClaimTtl: 1, minClaimGrace: 1 } });
  const clientId = randomUUID();
  poster = {
    post: async (queue, body, ttl, signal) => {
      await queues.createQueue(P, queue, signal);
      const [id] = await queues.postMessages(P, queue, clientId, [{ ttl, body }], signal);
      return id as string;
    },
  };
});

afterEach(async () => {
  await queues.close();
  await store.close();
});

async function bodies(queue: string): Promise<unknown[]> {
  return (await queues.listMessages(P, queue, { clientId: randomUUID(), echo: true })).messages.map((m) => m.body);
}

const spec = (body: string | null, queue = 'out'): ActionSpec => ({ kind: 'queue', queue, body, ttlSec: 300 });

describe('queue action', () => {
  it('posts the rendered template as JSON, seeing the input', async () => {
    const event = { type: 'service.timeout', payload: { id: 'web-1', tags: ['web'] } };
    const r = await runAction(spec('{"ticket": "{{ input.payload.id }} timed out", "kind": "{{ input.type }}"}'), { input: JSON.stringify(event), queues: poster });
    expect(r.ok).toBe(true);
    expect(r.output).toMatch(/^posted message \S+ to queue out$/);
    expect(await bodies('out')).toEqual([{ ticket: 'web-1 timed out', kind: 'service.timeout' }]);
  });

  it('without a body posts the input itself; a template that is not JSON posts a string', async () => {
    expect((await runAction(spec(null), { input: '{"a":1}', queues: poster })).ok).toBe(true);
    expect((await runAction(spec('reconnect {{ input.a }}'), { input: '{"a":2}', queues: poster })).ok).toBe(true);
    expect((await runAction(spec(null), { queues: poster })).ok).toBe(true);
    expect(await bodies('out')).toEqual([{ a: 1 }, 'reconnect 2', null]);
  });

  it('fails (posting nothing) on a missing variable, and without a queues client', async () => {
    const r = await runAction(spec('{{ input.nope.deeper }}'), { input: '{}', queues: poster });
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/body template/);
    const none = await runAction(spec(null), { input: '{}' });
    expect(none).toMatchObject({ ok: false, output: expect.stringMatching(/no queues client/) });
    await expect(queues.queueExists(P, 'out')).resolves.toBe(false);
  });

  it('a worker whose action is a queue action moves each message on, with the message document as input', async () => {
    await queues.createQueue(P, 'in');
    const [id] = await queues.postMessages(P, 'in', randomUUID(), [{ ttl: 300, body: { job: 7 } }]);
    const w = new Worker(
      {
        name: 'fwd',
        queue: 'in',
        concurrency: 1,
        ttlSec: 5,
        graceSec: 5,
        filter: { types: null, serviceTag: null, serviceIdPrefix: null, keyPrefix: null, match: null },
        action: { name: null, action: spec('{"from": "{{ input.id }}", "job": {{ input.body.job }}}', 'next') },
        attempts: 2,
        deadLetter: null,
        retryDelayMs: 10,
        origin: 'test:1',
      },
      { queues, project: P, log: silentLogger(), poster },
    );
    try {
      await expect.poll(() => w.status().succeeded, { timeout: 20_000 }).toBe(1);
      expect(await bodies('next')).toEqual([{ from: id, job: 7 }]);
      await expect.poll(async () => (await queues.getStats(P, 'in')).total, { timeout: 10_000 }).toBe(0);
    } finally {
      await w.stop();
    }
  });

  it('is a manifest action like the others: named or inline, in hooks and workers; ttl checked', async () => {
    const tmp: TempDir = await createTempDir('queue-action');
    try {
      const path = join(tmp.path, 'tether.yaml');
      await writeFile(
        path,
        `actions:
  ticket: { queue: tickets, body: '{"id": "{{ input.payload.id }}"}', ttl: 2h }
hooks:
  - on: [service.timeout]
    action: ticket
workers:
  - name: w
    queue: in
    action: { queue: out }
  - name: bad
    queue: in2
    action: { queue: out, ttl: 10s }
`,
      );
      const { issues } = await loadManifest(path, {});
      expect(issues.map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual(['12 workers[1].action.ttl: must be a whole number of seconds from 60 to 1209600']);
      await writeFile(path, (await readFile(path, 'utf8')).replace('ttl: 10s', 'ttl: 60'));
      const { manifest } = await loadManifest(path, {});
      expect(manifest?.actions.ticket).toEqual({ kind: 'queue', queue: 'tickets', body: '{"id": "{{ input.payload.id }}"}', ttlSec: 7200 });
      expect(manifest?.hooks[0]?.action.action).toBe(manifest?.actions.ticket);
      expect(manifest?.workers[0]?.action.action).toEqual({ kind: 'queue', queue: 'out', body: null, ttlSec: 3600 });
    } finally {
      await tmp.remove();
    }
  });
});
