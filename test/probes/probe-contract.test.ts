import { afterAll, beforeAll } from 'vitest';
import type { ProbeSpec } from '../../src/manifest/model.js';
import { closeHttpProbeAgents } from '../../src/probes/http.js';
import { createProbe } from '../../src/probes/probe.js';
import { TtlBoard } from '../../src/probes/ttl.js';
import { describeProbeContract } from './probe-contract.js';
import { closedPort, startHttpTarget, startTcpTarget, type HttpTarget } from './targets.js';

const make = (spec: ProbeSpec, timeoutMs = 2000) => createProbe(spec, { timeoutMs, serviceId: 'svc' });

let http: HttpTarget;
let tcp: Awaited<ReturnType<typeof startTcpTarget>>;
let refused: number;

beforeAll(async () => {
  http = await startHttpTarget();
  tcp = await startTcpTarget();
  refused = await closedPort();
});
afterAll(async () => {
  await closeHttpProbeAgents();
  await http.close();
  await tcp.close();
});

const httpSpec = (query: string): ProbeSpec => ({
  kind: 'http',
  url: `${http.url}?${query}`,
  method: 'GET',
  headers: {},
  expectStatus: [[200, 299]],
  bodyContains: null,
  tlsSkipVerify: false,
});

describeProbeContract(
  'http',
  () => ({
    healthy: () => make(httpSpec('status=200')),
    failing: () => make(httpSpec('status=503')),
    hanging: () => make(httpSpec('delay=30000'), 150),
  }),
  { canHang: true },
);

// Loopback cannot make a connect hang (it is accepted or refused at once), so no hanging target.
describeProbeContract(
  'tcp',
  () => ({
    healthy: () => make({ kind: 'tcp', host: '127.0.0.1', port: tcp.port }),
    failing: () => make({ kind: 'tcp', host: '127.0.0.1', port: refused }),
  }),
  { canHang: false },
);

describeProbeContract(
  'exec',
  () => ({
    healthy: () => make({ kind: 'exec', argv: ['/bin/sh', '-c', 'exit 0'] }),
    failing: () => make({ kind: 'exec', argv: ['/bin/sh', '-c', 'echo broken >&2; exit 3'] }),
    hanging: () => make({ kind: 'exec', argv: ['/bin/sh', '-c', 'sleep 30'] }, 150),
  }),
  { canHang: true },
);

describeProbeContract(
  'ttl',
  () => {
    const board = new TtlBoard();
    board.report('up', 'pass');
    board.report('down', 'fail', 'disk full');
    const ttl = (serviceId: string) => createProbe({ kind: 'ttl', ttlMs: 60_000 }, { timeoutMs: 2000, ttl: board, serviceId });
    return { healthy: () => ttl('up'), failing: () => ttl('down') };
  },
  { canHang: false },
);
