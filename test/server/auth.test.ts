import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCode } from '../../src/lib/errors.js';
import { createAuthTable, loadAuthFile } from '../../src/server/index.js';
import { api, raw, serviceBody, startServer, type TestServer } from './helpers.js';

/** Static token auth (spec 1.2) over HTTP, and the auth file loader. */

const TOKEN_A = 'token-for-tenant-a-0123456789';
const TOKEN_ADMIN = 'admin-token-0123456789';

let s: TestServer;
beforeAll(async () => {
  const auth = createAuthTable([
    { token: TOKEN_A, tenant: 'ten-a' },
    { token: TOKEN_ADMIN, tenant: '*' },
  ]);
  s = await startServer({ auth });
});
afterAll(async () => {
  await s.close();
});

function expectUnauthorized(r: Awaited<ReturnType<typeof raw>>, details: string): void {
  expect(r.status).toBe(401);
  expect(r.headers['www-authenticate']).toBe('Keystone uri="tether"');
  expect(r.json).toEqual({ type: 'unauthorizedError', code: 401, message: 'forbidden', details, txnId: r.headers['x-response-id'] });
}

describe('auth over HTTP', () => {
  it('rejects a missing token', async () => {
    expectUnauthorized(await api(s.port, 'ten-a').get('/services'), 'No authentication token provided');
    expectUnauthorized(await api(s.port, 'ten-a', { 'x-auth-token': '' }).get('/services'), 'No authentication token provided');
  });

  it('rejects an unknown token and a token of another tenant alike', async () => {
    expectUnauthorized(await api(s.port, 'ten-a', { 'x-auth-token': 'wrong' }).get('/services'), 'Invalid or expired authentication token');
    expectUnauthorized(await api(s.port, 'ten-b', { 'x-auth-token': TOKEN_A }).get('/services'), 'Invalid or expired authentication token');
  });

  it('accepts the header token, the query token, and an admin token anywhere', async () => {
    const c = api(s.port, 'ten-a', { 'x-auth-token': TOKEN_A });
    expect((await c.post('/services', serviceBody('auth-svc'))).status).toBe(201);
    const q = await raw(s.port, 'GET', `/v1.0/ten-a/services/auth-svc?x-auth-token=${TOKEN_A}`, {});
    expect(q.status).toBe(200);
    expect((await api(s.port, 'ten-b', { 'x-auth-token': TOKEN_ADMIN }).get('/services')).status).toBe(200);
    expect((await raw(s.port, 'GET', `/v1.0/ten-zz/limits?x-auth-token=${TOKEN_ADMIN}`, {})).status).toBe(200);
  });

  it('checks auth before the body: an unauthenticated bad body is 401, and nothing changes', async () => {
    const r = await raw(s.port, 'POST', '/v1.0/ten-a/services', { headers: { 'content-type': 'application/json' }, body: '{"a": }' });
    expectUnauthorized(r, 'No authentication token provided');
    const w = await api(s.port, 'ten-a', { 'x-auth-token': 'nope' }).post('/services', serviceBody('sneaky'));
    expect(w.status).toBe(401);
    expect((await api(s.port, 'ten-a', { 'x-auth-token': TOKEN_A }).get('/services/sneaky')).status).toBe(404);
  });

  it('never puts the query token into next_href', async () => {
    const c = api(s.port, 'ten-a', { 'x-auth-token': TOKEN_A });
    await c.post('/services', serviceBody('auth-svc-2'));
    const r = await raw(s.port, 'GET', `/v1.0/ten-a/services?limit=1&x-auth-token=${TOKEN_A}`, {});
    expect(r.json.metadata.next_href).toBe(`http://127.0.0.1:${s.port}/v1.0/ten-a/services?limit=1&marker=auth-svc-2`);
    expect(r.text).not.toContain(TOKEN_A);
  });
});

describe('loadAuthFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-auth-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function load(text: string) {
    const path = join(dir, `auth-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(path, text);
    return { path, result: loadAuthFile(path) };
  }

  it('loads tokens and admin tokens', async () => {
    const { result } = await load('tokens:\n  - token: "abc-secret"\n    tenant: "1234"\n  - token: root-secret\n    tenant: "*"\n');
    const table = await result;
    expect(table.entries.map((e) => e.tenant)).toEqual(['1234', '*']);
    expect(table.entries[0]!.digest).toHaveLength(32);
  });

  it('reports every schema problem with the file path and never the token', async () => {
    const { path, result } = await load('tokens:\n  - token: "supersecret-1"\n    tenant: "bad tenant!"\n    extra: 1\n  - token: ""\n    tenant: "1"\n');
    const err = await result.catch((e: unknown) => e);
    expect(hasCode(err, 'server.authFile')).toBe(true);
    const msg = (err as Error).message;
    expect(msg.startsWith(`${path}: `)).toBe(true);
    expect(msg).toContain('tokens.0.tenant');
    expect(msg).toContain('tokens.0: unknown key');
    expect(msg).toContain('tokens.1.token');
    expect(msg).not.toContain('supersecret');
  });

  it('reports YAML errors by line and column only', async () => {
    const { path, result } = await load('tokens:\n  - token: "secret-in-bad-yaml\n    tenant: 1\n');
    const err = (await result.catch((e: unknown) => e)) as Error;
    expect(hasCode(err, 'server.authFile')).toBe(true);
    expect(err.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: invalid YAML`));
    expect(err.message).not.toContain('secret');
  });

  it('rejects an empty list, a missing file, and a wrong shape', async () => {
    await expect((await load('tokens: []\n')).result).rejects.toThrow(/tokens: must hold at least one token/);
    await expect((await load('- token: a\n')).result).rejects.toThrow(/\(root\): must be a mapping/);
    await expect(loadAuthFile(join(dir, 'missing.yaml'))).rejects.toThrow(/missing\.yaml: cannot read auth file \(ENOENT\)/);
  });
});
