import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeSpec } from '../../src/manifest/model.js';
import { decodeHealthResponse, encodeHealthRequest } from '../../src/probes/grpc-health.js';
import { createProbe } from '../../src/probes/probe.js';
import { startHealthServer, type HealthServer } from './grpc-health-server.js';
import { describeProbeContract } from './probe-contract.js';
import { closedPort } from './targets.js';

/** The gRPC health probe against a real grpc-js health server (its messages encoded by protobufjs, not our codec). */

let server: HealthServer;
let refused: number;

beforeAll(async () => {
  server = await startHealthServer();
  server.set('app.Api', 'SERVING');
  server.set('app.Down', 'NOT_SERVING');
  server.set('app.Slow', 'HANG');
  refused = await closedPort();
});
afterAll(async () => {
  await server.stop();
});

const spec = (service: string, port = server.port): ProbeSpec => ({ kind: 'grpc', host: '127.0.0.1', port, service, tls: false, tlsSkipVerify: false });
const make = (s: ProbeSpec, timeoutMs = 2000) => createProbe(s, { timeoutMs, serviceId: 'svc' });
const run = (s: ProbeSpec, timeoutMs = 2000) => make(s, timeoutMs).run(new AbortController().signal);

describeProbeContract(
  'grpc',
  () => ({
    healthy: () => make(spec('app.Api')),
    failing: () => make(spec('app.Down')),
    hanging: () => make(spec('app.Slow'), 150),
  }),
  { canHang: true },
);

describe('gRPC health probe', () => {
  it('follows the server: SERVING -> NOT_SERVING -> SERVING, for the whole server ("") and for a named service', async () => {
    expect(await run(spec(''))).toMatchObject({ ok: true, output: `127.0.0.1:${server.port}: SERVING` });
    server.set('app.Flip', 'SERVING');
    expect(await run(spec('app.Flip'))).toMatchObject({ ok: true, output: `127.0.0.1:${server.port} service "app.Flip": SERVING` });
    server.set('app.Flip', 'NOT_SERVING');
    expect(await run(spec('app.Flip'))).toMatchObject({ ok: false, output: expect.stringContaining('NOT_SERVING') });
    server.set('app.Flip', 'SERVING');
    expect((await run(spec('app.Flip'))).ok).toBe(true);
    expect(server.calls.get('app.Flip')).toBe(3);
  });

  it('an unknown service is NOT_FOUND, UNKNOWN and SERVICE_UNKNOWN are unhealthy too', async () => {
    expect(await run(spec('app.Nope'))).toMatchObject({ ok: false, output: expect.stringContaining('NOT_FOUND') });
    server.set('app.Unknown', 'UNKNOWN');
    expect(await run(spec('app.Unknown'))).toMatchObject({ ok: false, output: expect.stringMatching(/: UNKNOWN$/) });
    server.set('app.SU', 'SERVICE_UNKNOWN');
    expect(await run(spec('app.SU'))).toMatchObject({ ok: false, output: expect.stringMatching(/SERVICE_UNKNOWN$/) });
  });

  it('a closed port is UNAVAILABLE, a silent server times out within the timeout', async () => {
    expect(await run(spec('', refused))).toMatchObject({ ok: false, output: expect.stringContaining('UNAVAILABLE') });
    const started = Date.now();
    const r = await run(spec('app.Slow'), 300);
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/timed out after 300ms|DEADLINE_EXCEEDED/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('an abort mid-call rejects with the reason and cancels the call', async () => {
    const ac = new AbortController();
    const reason = new Error('stop');
    const p = make(spec('app.Slow'), 10_000).run(ac.signal);
    await expect.poll(() => server.calls.get('app.Slow') ?? 0, { timeout: 5000 }).toBeGreaterThan(0);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
  });
});

describe('grpc.health.v1 codec', () => {
  it('encodes the request as protobuf (field 1, length-delimited; empty for "")', () => {
    expect(encodeHealthRequest('')).toEqual(Buffer.alloc(0));
    expect(encodeHealthRequest('ab')).toEqual(Buffer.from([0x0a, 2, 0x61, 0x62]));
    expect(encodeHealthRequest('x'.repeat(200)).subarray(0, 3)).toEqual(Buffer.from([0x0a, 0xc8, 0x01]));
  });

  it('decodes the status, skips unknown fields, refuses garbage', () => {
    expect(decodeHealthResponse(Buffer.alloc(0))).toBe(0);
    expect(decodeHealthResponse(Buffer.from([0x08, 1]))).toBe(1);
    // An unknown string field 2 before it, a fixed64 field 3 after it.
    expect(decodeHealthResponse(Buffer.from([0x12, 1, 0x41, 0x08, 2, 0x19, 0, 0, 0, 0, 0, 0, 0, 0]))).toBe(2);
    expect(() => decodeHealthResponse(Buffer.from([0x0f]))).toThrow(/wire type/);
    expect(() => decodeHealthResponse(Buffer.from([0x08, 0x80]))).toThrow(/varint/);
    expect(() => decodeHealthResponse(Buffer.from([0x12, 5, 0x41]))).toThrow(/truncated/);
  });
});
