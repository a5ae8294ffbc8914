import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load.js';
import { combineHealth } from '../../src/probes/check-group.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** Issue 18 item 11, the manifest side: `checks:` beside `check:`, names, the gRPC check's shapes and rules. */

let tmp: TempDir;
beforeAll(async () => {
  tmp = await createTempDir('checks');
});
afterAll(async () => {
  await tmp.remove();
});

async function load(name: string, text: string) {
  const file = await tmp.write(name, text);
  return { file, ...(await loadManifest(file, {})) };
}

describe('checks in the manifest', () => {
  it('normalizes several checks with their names (given, the kind, or kind-N where a kind repeats); check is the first', async () => {
    const { manifest, issues } = await load(
      'ok.yaml',
      'services:\n  - id: api-1\n    checks:\n' +
        '      - { name: rpc, grpc: { address: "[::1]:50051", service: app.Api, tls: true, tls_skip_verify: true } }\n' +
        '      - { tcp: "127.0.0.1:8080", interval: 1s }\n' +
        '      - { http: "http://127.0.0.1:8080/a" }\n' +
        '      - { http: "http://127.0.0.1:8080/b" }\n' +
        '  - id: one-1\n    check: { grpc: "127.0.0.1:50051" }\n',
    );
    expect(issues).toEqual([]);
    const [api, one] = manifest?.services ?? [];
    expect(api?.checks?.map((c) => c.name)).toEqual(['rpc', 'tcp', 'http-3', 'http-4']);
    expect(api?.checks?.[0]?.probe).toEqual({ kind: 'grpc', host: '::1', port: 50051, service: 'app.Api', tls: true, tlsSkipVerify: true });
    expect(api?.check).toEqual(api?.checks?.[0]);
    expect(one?.checks?.map((c) => [c.name, c.probe])).toEqual([['grpc', { kind: 'grpc', host: '127.0.0.1', port: 50051, service: '', tls: false, tlsSkipVerify: false }]]);
  });

  it('reports both forms, a name given twice, two ttl checks, a check with two kinds and a bad grpc address, each at its line:column', async () => {
    const { file, manifest, issues } = await load(
      'bad.yaml',
      'services:\n' +
        '  - id: both-1\n    check: { tcp: "127.0.0.1:1" }\n    checks:\n      - { tcp: "127.0.0.1:2" }\n' +
        '  - id: names-1\n    checks:\n      - { name: a, tcp: "127.0.0.1:1" }\n      - { name: a, tcp: "127.0.0.1:2" }\n' +
        '  - id: ttls-1\n    checks:\n      - { ttl: 10s }\n      - { ttl: 20s }\n' +
        '  - id: kinds-1\n    checks:\n      - { grpc: "127.0.0.1:1", tcp: "127.0.0.1:1" }\n      - { grpc: "no-port" }\n',
    );
    expect(manifest).toBeNull();
    expect(issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '5:7 services[0].checks: give check or checks, not both',
      `9:17 services[1].checks[1].name: a check named "a" is already defined for this service`,
      '12:7 services[2].checks: at most one ttl check per service (a TTL report names the service)',
      '16:9 services[3].checks[0]: needs exactly one of http, tcp, exec, ttl, grpc (found tcp, grpc)',
      '17:17 services[3].checks[1].grpc: must be host:port',
    ]);
    expect(issues.every((i) => i.file === file)).toBe(true);
  });

  it("a service's health: unhealthy when any check is, healthy when all are, unknown otherwise", () => {
    expect(combineHealth(['healthy', 'healthy'])).toBe('healthy');
    expect(combineHealth(['healthy', 'unknown'])).toBe('unknown');
    expect(combineHealth(['unknown', 'unhealthy'])).toBe('unhealthy');
    expect(combineHealth(['healthy', 'unhealthy'])).toBe('unhealthy');
  });
});
