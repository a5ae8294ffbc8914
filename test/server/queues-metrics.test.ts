import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleValue } from './prom-text.js';
import { messages, queuesClient, startQueuesServer, type QueuesTestServer } from './queues-helpers.js';

/**
 * Both pipelines count each request through one end-of-request function
 * (observe-request.ts): the queues API's requests land in the same histogram
 * as the registry's, under their route templates, with the status sent.
 */
const REQUESTS = 'tether_http_request_duration_seconds_count';

describe('queues requests in the request metrics', () => {
  let t: QueuesTestServer;

  beforeAll(async () => {
    t = await startQueuesServer();
  });

  afterAll(async () => {
    await t.close();
  });

  it('counts each queues and registry request by route template, method and status', async () => {
    const c = queuesClient(t.port);
    expect((await c.put('/v1/queues/metered')).status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await c.post('/v1/queues/metered/messages', messages(2))).status).toBe(201);
    expect((await c.get('/v1/queues/metered/nothing-here')).status).toBe(404);
    expect((await c.get('/v1.0/acme/limits')).status).toBe(200);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(sampleValue(text, REQUESTS, { route: '/v1/queues/{queue_name}', method: 'PUT', status: '201' })).toBe(1);
    expect(sampleValue(text, REQUESTS, { route: '/v1/queues/{queue_name}/messages', method: 'POST', status: '201' })).toBe(3);
    expect(sampleValue(text, REQUESTS, { route: 'unmatched', method: 'GET', status: '404' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(text, REQUESTS, { route: '/v1.0/{tenant}/limits', method: 'GET', status: '200' })).toBe(1);
  });
});
