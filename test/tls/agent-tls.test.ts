import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/client.js';
import { HttpQueues } from '../../src/client/queues.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { makeTestPki, type TestPki } from './certs.js';

/**
 * The agent as a real process: its upstream over HTTPS with the manifest's
 * CA, client certificate and server name (registry with --tls-client-ca),
 * refused with a wrong CA; and its local API's token beyond loopback.
 */

const TENANT = 'agent-tls';
const TOKEN = 'agent-api-token-3b9e1f';

let pki: TestPki;
let tmp: TempDir;
let registry: RegistryProc;
const agents: Proc[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  tmp = await createTempDir('agent-tls');
  // A certificate for registry.internal only: the agent reaches it by IP, so it needs server_name.
  registry = await startRegistry(join(tmp.path, 'registry'), 0, ['--tls-cert', pki.namedCert, '--tls-key', pki.namedKey, '--tls-client-ca', pki.caFile]);
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop('SIGKILL')));
  await registry?.stop();
  await tmp?.remove();
  await pki?.remove();
});

/** The ids registered in the tenant, read over mTLS by the client library. */
async function registeredIds(): Promise<string[]> {
  const c = new Client({
    url: `${registry.url}/v1.0/${TENANT}`,
    timeoutMs: 5000,
    tls: { ca: await readFile(pki.caFile), cert: await readFile(pki.clientCert), key: await readFile(pki.clientKey), servername: 'registry.internal' },
  });
  try {
    return (await c.services.listAll()).map((s) => s.id);
  } finally {
    await c.close();
  }
}

/** A manifest with one service `name`; with `ttl`, it has a ttl check (registered once a pass is reported). */
async function manifest(name: string, tls: string, listen = '127.0.0.1:0', ttl = false): Promise<string> {
  const path = join(tmp.path, `${name}.yaml`);
  await writeFile(
    path,
    `upstream:\n  url: ${registry.url}/v1.0/${TENANT}\n${tls}agent:\n  listen: ${listen}\n  state_dir: ${tmp.path}/state-${name}\n` +
      `services:\n  - id: ${name}\n${ttl ? '    check: { ttl: 60s }\n' : ''}`,
  );
  return path;
}

function startAgent(path: string, env: Record<string, string> = {}): Proc {
  const agent = spawnTether(['agent', '--config', path], env);
  agents.push(agent);
  return agent;
}

const goodTls = (): string =>
  `  tls:\n    ca_file: ${pki.caFile}\n    cert_file: ${pki.clientCert}\n    key_file: ${pki.clientKey}\n    server_name: registry.internal\n`;

describe('agent upstream over HTTPS', () => {
  it('registers through a registry that requires client certificates, with upstream.tls', async () => {
    const agent = startAgent(await manifest('good', goodTls()));
    await agent.waitForLog((r) => r.msg === 'agent started', 20_000);
    await expect.poll(registeredIds, { timeout: 20_000, interval: 200 }).toContain('good');
  });

  it('never registers with a CA that did not sign the registry, and says why', async () => {
    const tls = `  tls:\n    ca_file: ${pki.otherCaFile}\n    cert_file: ${pki.clientCert}\n    key_file: ${pki.clientKey}\n    server_name: registry.internal\n`;
    const agent = startAgent(await manifest('wrong-ca', tls));
    await agent.waitForLog((r) => /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/.test(JSON.stringify(r)), 20_000);
    const noCert = startAgent(await manifest('no-cert', `  tls:\n    ca_file: ${pki.caFile}\n    server_name: registry.internal\n`));
    // TLS 1.3: the server's refusal arrives as an alert after the client's handshake (or as a reset).
    await noCert.waitForLog((r) => /CERTIFICATE_REQUIRED|ECONNRESET|socket hang up/.test(String(r.err)), 20_000);
    const ids = await registeredIds();
    expect(ids).not.toContain('wrong-ca');
    expect(ids).not.toContain('no-cert');
    // No key material in the agents' logs.
    expect([...agent.log, ...noCert.log].join('\n')).not.toMatch(/PRIVATE KEY|BEGIN/);
  });
});

describe('agent workers over HTTPS', () => {
  it('a worker claims and runs a message from the queues of a registry requiring client certificates', async () => {
    const out = join(tmp.path, 'worker-out.json');
    const path = join(tmp.path, 'worker.yaml');
    await writeFile(
      path,
      `upstream:\n  url: ${registry.url}/v1.0/${TENANT}\n${goodTls()}agent:\n  listen: 127.0.0.1:0\n  state_dir: ${tmp.path}/state-worker\n` +
        `workers:\n  - name: w\n    queue: tls-jobs\n    ttl: 60s\n    action:\n      exec: [sh, -c, 'cat > ${out}']\n`,
    );
    const agent = startAgent(path);
    await agent.waitForLog((r) => r.msg === 'agent started', 20_000);
    const queues = new HttpQueues({
      url: registry.url,
      timeoutMs: 5000,
      tls: { ca: await readFile(pki.caFile), cert: await readFile(pki.clientCert), key: await readFile(pki.clientKey), servername: 'registry.internal' },
    });
    try {
      await queues.createQueue(TENANT, 'tls-jobs');
      await queues.postMessages(TENANT, 'tls-jobs', queues.clientId, [{ ttl: 300, body: { job: 'over-mtls' } }]);
      await expect.poll(() => readFile(out, 'utf8').catch(() => ''), { timeout: 30_000, interval: 200 }).toContain('over-mtls');
    } finally {
      await queues.close();
    }
  });
});

describe('agent client certificate renewal', () => {
  it('a reload (SIGHUP) picks up renewed upstream.tls files: refused before, registered after, no restart', async () => {
    const certFile = join(tmp.path, 'renew.pem');
    const keyFile = join(tmp.path, 'renew.key');
    // An expired or foreign certificate to begin with: one of the other CA.
    await copyFile(pki.strangerCert, certFile);
    await copyFile(pki.strangerKey, keyFile);
    const tls = `  tls:\n    ca_file: ${pki.caFile}\n    cert_file: ${certFile}\n    key_file: ${keyFile}\n    server_name: registry.internal\n`;
    const agent = startAgent(await manifest('renewed', tls));
    await agent.waitForLog((r) => r.msg === 'agent started', 20_000);
    await agent.waitForLog((r) => r.component === 'sync' && typeof r.err === 'string', 20_000);
    expect(await registeredIds()).not.toContain('renewed');
    // A renewal that is half written (a key of another certificate) is refused and logged; then the real one.
    await copyFile(pki.clientCert, certFile);
    agent.child.kill('SIGHUP');
    await agent.waitForLog((r) => r.msg === 'upstream TLS files rejected; the previous ones stay', 10_000);
    await copyFile(pki.clientKey, keyFile);
    agent.child.kill('SIGHUP');
    await expect.poll(registeredIds, { timeout: 30_000, interval: 300 }).toContain('renewed');
    expect(agent.log.join('\n')).not.toMatch(/PRIVATE KEY|BEGIN/);
  });
});

describe('local API token beyond loopback', () => {
  it('refuses to start on a non-loopback address without TETHER_AGENT_TOKEN', async () => {
    const agent = startAgent(await manifest('open', goodTls(), '0.0.0.0:0'));
    const { code } = await agent.exited;
    expect(code).toBe(1);
    expect(agent.log.join('\n')).toMatch(/not a loopback address: set TETHER_AGENT_TOKEN/);
  });

  it('on 0.0.0.0 with a token: health, readiness and metrics are open; reload, TTL reports, maintenance and status need the token', async () => {
    const agent = startAgent(await manifest('guarded', goodTls(), '0.0.0.0:0', true), { TETHER_AGENT_TOKEN: TOKEN });
    const started = await agent.waitForLog((r) => r.msg === 'agent started', 20_000);
    const port = new URL(started.api as string).port;
    const base = `http://127.0.0.1:${port}`;
    const call = async (method: string, path: string, headers: Record<string, string> = {}): Promise<number> =>
      (await fetch(`${base}${path}`, { method, headers, signal: AbortSignal.timeout(10_000) })).status;
    expect(await call('GET', '/healthz')).toBe(200);
    expect([200, 503]).toContain(await call('GET', '/readyz'));
    expect(await call('GET', '/metrics')).toBe(200);
    const writes: Array<[string, string]> = [
      ['POST', '/v1/reload'],
      ['POST', '/v1/checks/guarded/pass'],
      ['PUT', '/v1/checks/guarded/fail'],
      ['PUT', '/v1/maint?enable=true'],
      ['PUT', '/v1/maint/guarded?enable=true'],
      ['GET', '/v1/status'],
      ['GET', '/v1/maint'],
      ['POST', '/v1/anything-added-later'],
    ];
    for (const [method, path] of writes) {
      expect(await call(method, path), `${method} ${path} without a token`).toBe(401);
      expect(await call(method, path, { authorization: 'Bearer wrong-token' }), `${method} ${path} with a wrong token`).toBe(401);
      expect(await call(method, path, { 'x-tether-token': `${TOKEN}x` })).toBe(401);
    }
    expect(await call('POST', '/v1/checks/guarded/pass', { authorization: `Bearer ${TOKEN}` })).toBe(200);
    expect(await call('POST', '/v1/reload', { 'x-tether-token': TOKEN })).toBe(200);
    expect(await call('GET', '/v1/status', { authorization: `bearer ${TOKEN}` })).toBe(200);
    // A token in the URL is not accepted (it would land in access logs).
    expect(await call('POST', `/v1/reload?token=${TOKEN}`)).toBe(401);
    // tether maint sends TETHER_AGENT_TOKEN as a bearer token.
    const maint = spawnTether(['maint', 'status', '--agent', base, '--json'], { TETHER_AGENT_TOKEN: TOKEN });
    expect((await maint.exited).code).toBe(0);
    const denied = spawnTether(['maint', 'enable', '--agent', base]);
    expect((await denied.exited).code).not.toBe(0);
    expect(agent.log.join('\n')).not.toContain(TOKEN);
  });

  it('takes the token from agent.api_token_file when TETHER_AGENT_TOKEN is not set', async () => {
    const tokenFile = join(tmp.path, 'api-token');
    await writeFile(tokenFile, 'file-token-77c2\n', { mode: 0o600 });
    const path = await manifest('from-file', goodTls(), '0.0.0.0:0', true);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('agent:\n', `agent:\n  api_token_file: ${tokenFile}\n`));
    const agent = startAgent(path);
    const port = new URL((await agent.waitForLog((r) => r.msg === 'agent started', 20_000)).api as string).port;
    const reload = (headers: Record<string, string>): Promise<number> =>
      fetch(`http://127.0.0.1:${port}/v1/reload`, { method: 'POST', headers, signal: AbortSignal.timeout(10_000) }).then((r) => r.status);
    expect(await reload({})).toBe(401);
    expect(await reload({ authorization: 'Bearer file-token-77c2' })).toBe(200);
    expect(agent.log.join('\n')).not.toContain('file-token-77c2');
  });

  it('on loopback without a token, the write endpoints stay open as before', async () => {
    const agent = startAgent(await manifest('loopback', goodTls(), '127.0.0.1:0', true));
    const api = (await agent.waitForLog((r) => r.msg === 'agent started', 20_000)).api as string;
    const res = await fetch(`${api}/v1/checks/loopback/pass`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    await expect.poll(registeredIds, { timeout: 20_000, interval: 200 }).toContain('loopback');
  });
});

describe('tether dev with --tls-cert', () => {
  it("serves its embedded registry over HTTPS to the CLI, while its agent registers in-process", async () => {
    const path = join(tmp.path, 'dev.yaml');
    await writeFile(path, `upstream:\n  url: http://127.0.0.1:8470/v1.0/dev-tls\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${tmp.path}/state-dev\nservices:\n  - id: dev-svc\n`);
    const dev = spawnTether(['dev', '--config', path, '--listen', '127.0.0.1:0', '--log-format', 'json', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey]);
    agents.push(dev);
    const url = (await dev.waitForLog((r) => r.msg === 'embedded registry listening', 20_000)).url as string;
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/dev-tls$/);
    await expect
      .poll(
        async () => {
          const cli = spawnTether(['services', 'list', '--json', '--url', url], { TETHER_CACERT: pki.caFile });
          const { code } = await cli.exited;
          return code === 0 ? (JSON.parse(cli.stdout()) as Array<{ id: string }>).map((s) => s.id) : [];
        },
        { timeout: 20_000, interval: 300 },
      )
      .toContain('dev-svc');
    const refused = spawnTether(['services', 'list', '--url', url]);
    expect((await refused.exited).code).toBe(3);
  });
});
