import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { startQueuesServer } from '../server/queues-helpers.js';

/** Review 15 S4: the queue limits are configuration of `tether registry`, one copy for the service and the wire. */

let tmp: TempDir;
let registry: RegistryProc;
beforeAll(async () => {
  tmp = await createTempDir('registry-queue-limits');
  registry = await startRegistry(join(tmp.path, 'data'), 0, ['--queue-limits', 'max_messages_per_claim=100,max_message_post_bytes=4096']);
});
afterAll(async () => {
  await registry.stop();
  await tmp.remove();
});

const headers = { 'content-type': 'application/json', accept: 'application/json', 'x-project-id': 'lim', 'client-id': randomUUID() };

function send(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${registry.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

describe('tether registry --queue-limits', () => {
  it('raises messages per claim to 100 and caps a post at 4096 bytes, on the wire', async () => {
    expect((await send('PUT', '/v1/queues/jobs')).status).toBe(201);
    const small = Array.from({ length: 40 }, (_, i) => ({ ttl: 300, body: i }));
    expect((await send('POST', '/v1/queues/jobs/messages', small)).status).toBe(201);
    const claim = await send('POST', '/v1/queues/jobs/claims?limit=100', { ttl: 60, grace: 60 });
    expect(claim.status).toBe(201);
    expect((await claim.json()) as unknown[]).toHaveLength(40);
    expect((await send('POST', '/v1/queues/jobs/claims?limit=101', { ttl: 60, grace: 60 })).status).toBe(400);
    const big = await send('POST', '/v1/queues/jobs/messages', [{ ttl: 300, body: 'x'.repeat(4100) }]);
    expect(big.status).toBe(400);
    expect(((await big.json()) as { title: string }).title).toBe('Invalid API call');
  });

  it('rejects an unknown limit name with a usage error (exit 2)', async () => {
    const p = spawnTether(['registry', '--data', join(tmp.path, 'bad'), '--queue-limits', 'max_claims=3']);
    expect((await p.exited).code).toBe(2);
    expect(p.log.join('\n')).toContain('max_messages_per_claim');
  });
});

describe('the server reads the queue service limits', () => {
  it('a service opened with a 1024-byte post cap refuses a bigger body on the wire before parsing it', async () => {
    // Only the service is given the limit: the server must take its body cap from it.
    const srv = await startQueuesServer({ limits: { maxMessagePostBytes: 1024 } });
    try {
      // Not JSON: read and parsed, it would be 400 Invalid request body; refused by size, Invalid API call.
      const r = await fetch(`${srv.url}/v1/queues/q/messages`, { method: 'POST', headers, body: 'x'.repeat(1100) });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { title: string }).title).toBe('Invalid API call');
    } finally {
      await srv.close();
    }
  });
});
