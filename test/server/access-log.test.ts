import { readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryService } from '../../src/registry/service.js';
import { createQueueService } from '../../src/queues/service.js';
import { openAccessLog } from '../../src/server/access-log.js';
import { createAuthTable, createRegistryServer } from '../../src/server/index.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { startRegistry } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { raw, rawSocket } from './helpers.js';

/**
 * Issue 19 item 8: the access log writes one JSON line per request (method,
 * route template, status, duration, tenant, response id) and never a token,
 * a query value or a value.
 */

const TOKEN = 'tok-SECRET-4f1c9a';
const SECRET_VALUE = 'hunter2-VALUE-77e1';
const CLIENT = '3381af92-2b9e-11e3-b191-71861300734c';

const temps: TempDir[] = [];
afterEach(async () => {
  for (const t of temps.splice(0)) await t.remove();
});

async function readLines(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('access log (in process)', () => {
  it('one line per request with the route template, status, tenant and response id; no token, query value or value', async () => {
    const tmp = await createTempDir('access-log');
    temps.push(tmp);
    const path = join(tmp.path, 'logs', 'access.jsonl');
    const store = openSqliteStore({ path: ':memory:' });
    const registry = await RegistryService.open(store, { reaperIntervalMs: 0 });
    const queues = await createQueueService(store, {});
    const accessLog = openAccessLog(path);
    const server = createRegistryServer(registry, { hostname: 'testhost', queues, accessLog, auth: createAuthTable([{ token: TOKEN, tenant: 'acme' }]) });
    const { port } = await server.listen(0, '127.0.0.1');
    const json = { 'content-type': 'application/json' };
    const put = await raw(port, 'PUT', '/v1.0/acme/configuration/db_password', { headers: { ...json, 'x-auth-token': TOKEN }, body: JSON.stringify({ value: SECRET_VALUE }) });
    expect(put.status).toBe(204);
    // The token in the query, and a query value that must not be logged either.
    const got = await raw(port, 'GET', `/v1.0/acme/configuration/db_password?x-auth-token=${TOKEN}&marker=${SECRET_VALUE}`, { headers: json });
    expect(got.status).toBe(200);
    expect(got.text).toContain(SECRET_VALUE);
    const denied = await raw(port, 'GET', '/v1.0/acme/services', { headers: { ...json, 'x-auth-token': 'wrong-token-XYZ' } });
    expect(denied.status).toBe(401);
    const q = { 'x-project-id': 'acme', 'client-id': CLIENT, 'x-auth-token': TOKEN };
    expect((await raw(port, 'PUT', '/v1/queues/jobs', { headers: q })).status).toBe(201);
    const posted = await raw(port, 'POST', '/v1/acme/queues/jobs/messages', { headers: { ...q, 'content-type': 'application/json' }, body: JSON.stringify([{ ttl: 300, body: { secret: SECRET_VALUE } }]) });
    expect(posted.status).toBe(201);
    expect(await rawSocket(port, 'GET /v1.0/acme/services HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    await server.close();
    await accessLog.close();
    await queues.close();
    await registry.close();
    await store.close();

    const text = await readFile(path, 'utf8');
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(SECRET_VALUE);
    expect(text).not.toContain('wrong-token-XYZ');
    expect(text).not.toContain('db_password');
    const lines = await readLines(path);
    expect(lines).toHaveLength(6);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(expect.arrayContaining(['time', 'method', 'route', 'status', 'ms', 'tenant', 'id']));
      expect(typeof l.ms).toBe('number');
    }
    expect(lines.slice(0, 5).map((l) => [l.method, l.route, l.status, l.tenant])).toEqual([
      ['PUT', '/v1.0/{tenant}/configuration/{key}', 204, 'acme'],
      ['GET', '/v1.0/{tenant}/configuration/{key}', 200, 'acme'],
      ['GET', '/v1.0/{tenant}/services', 401, 'acme'],
      ['PUT', '/v1/queues/{queue_name}', 201, 'acme'],
      ['POST', '/v1/queues/{queue_name}/messages', 201, 'acme'],
    ]);
    // The response id is the one the client saw.
    expect(lines[0]?.id).toBe(put.headers['x-response-id']);
    expect(lines[2]?.id).toBe(denied.headers['x-response-id']);
    // A request the parser refused: a line with its status and id, no method or route.
    expect(lines[5]).toMatchObject({ method: null, route: null, status: 400 });
    expect(lines[5]?.id).toMatch(/^\.rh-/);
  });
});

describe('tether registry --access-log (process)', () => {
  it('writes the lines to the file given, and to stderr when asked', async () => {
    const tmp = await createTempDir('access-log-proc');
    temps.push(tmp);
    const file = join(tmp.path, 'access.jsonl');
    const proc = await startRegistry(join(tmp.path, 'data'), 0, ['--access-log', file]);
    const r = await fetch(`${proc.url}/v1.0/t9/services?marker=${SECRET_VALUE}`);
    expect(r.status).toBe(200);
    await proc.stop();
    const lines = await readLines(file);
    expect(lines).toEqual([expect.objectContaining({ method: 'GET', route: '/v1.0/{tenant}/services', status: 200, tenant: 't9', id: r.headers.get('x-response-id') })]);
    expect(JSON.stringify(lines)).not.toContain(SECRET_VALUE);

    const proc2 = await startRegistry(join(tmp.path, 'data'), 0, ['--access-log', 'stderr']);
    await fetch(`${proc2.url}/v1.0/t9/limits`);
    const line = await proc2.waitForLog((rec) => rec.route === '/v1.0/{tenant}/limits');
    expect(line).toMatchObject({ method: 'GET', status: 200, tenant: 't9' });
    await proc2.stop();
  });
  it('reopens the file on SIGHUP (logrotate create mode): later lines go to the new file, none is lost', async () => {
    const tmp = await createTempDir('access-log-rotate');
    temps.push(tmp);
    const file = join(tmp.path, 'access.jsonl');
    const proc = await startRegistry(join(tmp.path, 'data'), 0, ['--access-log', file]);
    const ids: string[] = [];
    const call = async (): Promise<void> => {
      const r = await fetch(`${proc.url}/v1.0/rot/limits`);
      expect(r.status).toBe(200);
      ids.push(r.headers.get('x-response-id') as string);
    };
    for (let i = 0; i < 5; i++) await call();
    await rename(file, `${file}.1`);
    proc.child.kill('SIGHUP');
    // The new file appears once the signal is handled.
    await expect.poll(() => stat(file).then(() => true, () => false), { timeout: 15_000, interval: 50 }).toBe(true);
    const before = ids.length;
    for (let i = 0; i < 5; i++) await call();
    await proc.stop();
    const rotated = await readLines(`${file}.1`);
    const fresh = await readLines(file);
    expect([...rotated, ...fresh].map((l) => l.id).sort()).toEqual([...ids].sort());
    expect(fresh.map((l) => l.id)).toEqual(ids.slice(before));
  });
});
