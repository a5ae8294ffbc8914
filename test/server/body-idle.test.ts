import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryService } from '../../src/registry/service.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { openSqliteStore } from '../../src/store/sqlite.js';

/**
 * The body-idle timeout (pipeline.ts, watchBodyIdle) is armed only for a
 * request whose body did not come with its head: a body that never starts
 * is still cut, and a whole request leaves no timer behind on its
 * keep-alive connection.
 */

const IDLE_MS = 800;
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function start(): Promise<{ port: number; server: RegistryServer }> {
  const store = openSqliteStore({ path: ':memory:' });
  const registry = await RegistryService.open(store, { reaperIntervalMs: 0 });
  const server = createRegistryServer(registry, { hostname: 'testhost', connections: { headersTimeoutMs: 5000, requestTimeoutMs: 20_000, bodyIdleTimeoutMs: IDLE_MS } });
  const { port } = await server.listen(0, '127.0.0.1');
  cleanup.push(() => store.close(), () => registry.close(), () => server.close());
  return { port, server };
}

function client(port: number): { sock: Socket; text: () => string; closedAfter: Promise<number> } {
  const t0 = Date.now();
  let text = '';
  const sock = connect({ port, host: '127.0.0.1' });
  cleanup.push(() => void sock.destroy());
  sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
  sock.on('error', () => undefined);
  return { sock, text: () => text, closedAfter: new Promise((r) => sock.on('close', () => r(Date.now() - t0))) };
}

const statuses = (text: string): number[] => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('body-idle timeout', () => {
  it('cuts a request whose body never starts after its head (408 fault)', async () => {
    const { port } = await start();
    const c = client(port);
    c.sock.write('POST /v1.0/t1/services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n');
    const ms = await c.closedAfter;
    expect(ms).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(ms).toBeLessThan(5000);
    expect(statuses(c.text())).toEqual([408]);
  });

  it('leaves a keep-alive connection open past the timeout after a whole request with a body', async () => {
    const { port } = await start();
    const c = client(port);
    const body = '{"id":"svc-1","heartbeat_timeout":60}';
    c.sock.write(`POST /v1.0/t1/services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await expect.poll(() => statuses(c.text()), { timeout: 5000 }).toEqual([201]);
    // Idle for three body-idle timeouts: nothing may cut the connection.
    await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
    c.sock.write('GET /v1.0/t1/services/svc-1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => statuses(c.text()), { timeout: 5000 }).toEqual([201, 200]);
    expect(c.sock.destroyed).toBe(false);
  });

  it('still answers a body that arrives in a second packet, within the timeout', async () => {
    const { port } = await start();
    const c = client(port);
    const body = '{"id":"svc-2","heartbeat_timeout":60}';
    c.sock.write(`POST /v1.0/t1/services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, IDLE_MS / 4));
    c.sock.write(body);
    await expect.poll(() => statuses(c.text()), { timeout: 5000 }).toEqual([201]);
  });
});
