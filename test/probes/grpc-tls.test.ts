import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpcJs from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeSpec } from '../../src/manifest/model.js';
import { createProbe } from '../../src/probes/probe.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { startHealthServer, type HealthServer } from './grpc-health-server.js';

/** The gRPC probe's TLS switch against a real grpc-js server with a self-signed certificate (made by openssl). */

const run = promisify(execFile);
let tmp: TempDir;
let server: HealthServer;

beforeAll(async () => {
  tmp = await createTempDir('grpc-tls');
  const key = join(tmp.path, 'key.pem');
  const cert = join(tmp.path, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1']);
  const credentials = grpcJs.ServerCredentials.createSsl(null, [{ private_key: await readFile(key), cert_chain: await readFile(cert) }], false);
  server = await startHealthServer({ credentials });
});
afterAll(async () => {
  await server.stop();
  await tmp.remove();
});

const probe = (tls: boolean, tlsSkipVerify: boolean): ProbeSpec => ({ kind: 'grpc', host: '127.0.0.1', port: server.port, service: '', tls, tlsSkipVerify });
const check = (s: ProbeSpec) => createProbe(s, { timeoutMs: 3000, serviceId: 'svc' }).run(new AbortController().signal);

describe('gRPC probe over TLS', () => {
  it('tls with tls_skip_verify reaches a self-signed server; verification refuses it; plaintext does not reach it', async () => {
    expect(await check(probe(true, true))).toMatchObject({ ok: true, output: expect.stringContaining('SERVING') });
    expect(await check(probe(true, false))).toMatchObject({ ok: false, output: expect.stringContaining('UNAVAILABLE') });
    expect((await check(probe(false, false))).ok).toBe(false);
    expect(server.calls.get('')).toBe(1);
  });
});
