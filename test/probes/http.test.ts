import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ProbeSpec } from '../../src/manifest/model.js';
import { BODY_LIMIT_BYTES, closeHttpProbeAgents } from '../../src/probes/http.js';
import { createProbe } from '../../src/probes/probe.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { closedPort, startHttpTarget, startHttpsTarget, type HttpTarget } from './targets.js';

type HttpSpec = Extract<ProbeSpec, { kind: 'http' }>;

let target: HttpTarget;
beforeAll(async () => {
  target = await startHttpTarget();
});
afterAll(async () => {
  await closeHttpProbeAgents();
  await target.close();
});

const spec = (over: Partial<HttpSpec> & { query?: string } = {}): HttpSpec => {
  const { query = '', ...rest } = over;
  return { kind: 'http', url: `${target.url}?${query}`, method: 'GET', headers: {}, expectStatus: [[200, 299]], bodyContains: null, tlsSkipVerify: false, ...rest };
};
const run = (s: HttpSpec, timeoutMs = 2000) => createProbe(s, { timeoutMs, serviceId: 'web' }).run(new AbortController().signal);

describe('http probe: status', () => {
  it('reports "HTTP 200 OK" for a 200', async () => {
    expect(await run(spec())).toMatchObject({ ok: true, output: 'HTTP 200 OK' });
  });

  it('fails outside the ranges and says what was expected', async () => {
    const r = await run(spec({ query: 'status=503', expectStatus: [[200, 299], [304, 304]] }));
    expect(r).toMatchObject({ ok: false, output: 'HTTP 503 Service Unavailable (expected 200-299, 304)' });
  });

  it.each([
    [200, true],
    [299, true],
    [300, false],
    [304, true],
    [418, true],
    [419, false],
  ])('status %i against ranges 200-299, 304, 400-418 -> ok=%s (inclusive bounds)', async (status, ok) => {
    const r = await run(spec({ query: `status=${status}`, expectStatus: [[200, 299], [304, 304], [400, 418]] }));
    expect(r.ok).toBe(ok);
  });

  it('does not follow redirects: a 302 is judged by the ranges', async () => {
    expect((await run(spec({ query: 'status=302' }))).ok).toBe(false);
    expect((await run(spec({ query: 'status=302', expectStatus: [[200, 399]] }))).ok).toBe(true);
  });
});

describe('http probe: request', () => {
  it('sends the method and headers, with a default user-agent', async () => {
    await run(spec({ query: 'm=1', method: 'POST', headers: { 'x-check': 'yes' } }));
    const seen = target.seen.find((s) => s.url === '/?m=1');
    expect(seen).toMatchObject({ method: 'POST', headers: { 'x-check': 'yes', 'user-agent': 'tether-probe' } });
  });

  it('keeps a user-agent given in the spec', async () => {
    await run(spec({ query: 'm=2', headers: { 'User-Agent': 'mine' } }));
    expect(target.seen.find((s) => s.url === '/?m=2')?.headers['user-agent']).toBe('mine');
  });

  it('reuses keep-alive connections across runs', async () => {
    await closeHttpProbeAgents();
    const before = target.connections;
    for (let i = 0; i < 10; i++) expect((await run(spec({ query: 'size=1000' }))).ok).toBe(true);
    // A second socket may open while the first is being released; never one per run.
    expect(target.connections - before).toBeLessThanOrEqual(2);
  });

  it('reports a refused connection as ok:false with the error text', async () => {
    const port = await closedPort();
    const r = await run(spec({ url: `http://127.0.0.1:${port}/` }));
    expect(r).toMatchObject({ ok: false, output: `connect ECONNREFUSED 127.0.0.1:${port}` });
  });

  it('times out into ok:false and closes the connection', async () => {
    const before = target.aborted;
    const r = await run(spec({ query: 'delay=30000' }), 100);
    expect(r).toMatchObject({ ok: false, output: 'timed out after 100ms' });
    await vi.waitFor(() => expect(target.aborted).toBe(before + 1), { timeout: 2000 });
  });
});

describe('http probe: body_contains', () => {
  it('passes when the body contains the text', async () => {
    expect(await run(spec({ query: 'body=status:green', bodyContains: 'green' }))).toMatchObject({ ok: true, output: 'HTTP 200 OK' });
  });

  it('fails when it does not, with the status in the output', async () => {
    const r = await run(spec({ query: 'body=status:red', bodyContains: 'green' }));
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/^HTTP 200 OK, but .* do not contain "green"$/);
  });

  it('looks only at the first 64 KiB', async () => {
    const within = await run(spec({ query: `size=${BODY_LIMIT_BYTES - 10}&body=green`, bodyContains: 'green' }));
    expect(within.ok).toBe(true);
    const beyond = await run(spec({ query: `size=${BODY_LIMIT_BYTES}&body=green`, bodyContains: 'green' }));
    expect(beyond.ok).toBe(false);
  });

  it('copes with a body far larger than the limit, then probes again', async () => {
    const r = await run(spec({ query: 'size=4000000', bodyContains: 'green' }));
    expect(r.ok).toBe(false);
    expect((await run(spec({ query: 'size=4000000' }))).ok).toBe(true); // not read: dumped or destroyed
    expect((await run(spec())).ok).toBe(true);
  });
});

describe('http probe: TLS', () => {
  let dir: TempDir;
  let tls: HttpTarget;
  beforeAll(async () => {
    dir = await createTempDir('probes-tls');
    tls = await startHttpsTarget(dir.path);
  });
  afterAll(async () => {
    await tls.close();
    await dir.remove();
  });

  it('rejects a self-signed certificate by default', async () => {
    const r = await run(spec({ url: tls.url }));
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/certificate/i);
  });

  it('accepts it with tls_skip_verify, on a separate pool', async () => {
    expect(await run(spec({ url: tls.url, tlsSkipVerify: true }))).toMatchObject({ ok: true, output: 'HTTP 200 OK' });
    // The verifying pool still verifies after the skip-verify pool connected.
    expect((await run(spec({ url: tls.url }))).ok).toBe(false);
  });
});
