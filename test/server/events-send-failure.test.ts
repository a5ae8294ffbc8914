import { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RegistryService } from '../../src/registry/service.js';
import type { EventAnswer } from '../../src/registry/event-poll.js';
import type { Registry } from '../../src/registry/registry.js';
import type { EventListOptions } from '../../src/registry/types.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { api, raw, startServerFor, type TestServer } from './helpers.js';

/**
 * A long-poll's page is sent when the registry call settles, outside the
 * pipeline's try/catch. A throw while sending it must still answer (a 500
 * fault, or a dropped connection once headers went out), never become an
 * unhandled rejection, which would end the process.
 */

/** Tenants whose waiting polls get a page JSON.stringify refuses (a BigInt), from a real registry otherwise. */
const POISONED = new Set(['poisoned']);

let s: TestServer;
const rejections: unknown[] = [];
const onRejection = (reason: unknown): void => void rejections.push(reason);

beforeAll(async () => {
  const store = openSqliteStore({ path: ':memory:' });
  const real = await RegistryService.open(store, { reaperIntervalMs: 0 });
  const registry = new Proxy(real, {
    get(target, prop) {
      if (prop === 'listEvents') {
        return async (...args: Parameters<Registry['listEvents']>) => {
          const page = await target.listEvents(...args);
          return args[1]?.wait !== undefined && POISONED.has(args[0]) ? { ...page, values: [{ id: 1n }] } : page;
        };
      }
      // The server's long-polls are answered through pollEvents (no promise): the same poisoned page there.
      if (prop === 'pollEvents') {
        return (tenant: string, opts: EventListOptions, answer: EventAnswer) =>
          target.pollEvents(tenant, opts, {
            resolve: (page) => answer.resolve(POISONED.has(tenant) ? { ...page, values: [{ id: 1n } as never] } : page),
            reject: (err) => answer.reject(err),
          });
      }
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Registry;
  s = await startServerFor(registry, {}, async () => {
    await real.close();
    await store.close();
  });
  process.on('unhandledRejection', onRejection);
});
afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  await s.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Lets a rejection nobody handled reach the process's event (it is reported after the microtasks drain). */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

describe('a throw while sending a long-poll page', () => {
  it('before any header went out: a 500 fault, no unhandled rejection, and the server keeps answering', async () => {
    const c = api(s.port, 'poisoned');
    await c.put('/configuration/k', { value: 'v' });
    const reply = await c.get('/events?wait=1');
    expect(reply.status).toBe(500);
    expect(reply.json).toMatchObject({ type: 'internalError' });
    await settle();
    expect(rejections).toEqual([]);
    expect((await c.get('/events')).status).toBe(200);
  });

  it('after the headers went out: the connection is dropped, no unhandled rejection', async () => {
    const c = api(s.port, 'healthy');
    await c.put('/configuration/k', { value: 'v' });
    // The body's write fails after writeHead: what a socket error mid-reply looks like to the route.
    vi.spyOn(ServerResponse.prototype, 'end').mockImplementationOnce(() => {
      throw new Error('write after headers failed');
    });
    await expect(raw(s.port, 'GET', '/v1.0/healthy/events?wait=1')).rejects.toThrow();
    await settle();
    expect(rejections).toEqual([]);
    vi.restoreAllMocks();
    expect((await c.get('/events')).status).toBe(200);
  });
});
