import { afterEach, describe, expect, it } from 'vitest';
import { FailoverRegistry } from '../../src/client/failover.js';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { TetherError } from '../../src/lib/errors.js';
import { isFault } from '../../src/registry/faults.js';
import { freePort } from '../helpers/ports.js';
import { freshTenant, startRegistry, type RunningRegistry } from './registry-server.js';

describe('FailoverRegistry', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  async function registry(): Promise<RunningRegistry> {
    const r = await startRegistry();
    open.push(r);
    return r;
  }

  it('uses the first server that answers, in order, and stays on it', async () => {
    const up = await registry();
    const down = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    const switches: Array<[number, number]> = [];
    const failover = new FailoverRegistry([new HttpRegistry({ url: down, timeoutMs: 1000 }), new HttpRegistry({ url: up.url })], (from, to) =>
      switches.push([from, to]),
    );
    open.push(failover);
    const tenant = freshTenant();
    await failover.setConfig(tenant, '/app/feature/flag', { value: 'on' });
    expect(failover.active).toBe(1);
    expect(switches).toEqual([[0, 1]]);
    expect((await failover.getConfig(tenant, '/app/feature/flag')).value).toBe('on');
    expect(switches).toHaveLength(1);
  });

  it("returns the registry's own faults without trying another server", async () => {
    const [a, b] = [await registry(), await registry()];
    const failover = new FailoverRegistry([new HttpRegistry({ url: a.url }), new HttpRegistry({ url: b.url })]);
    open.push(failover);
    const tenant = freshTenant();
    await b.service.setConfig(tenant, '/app/only/on-b', { value: 'b' });
    const err = await failover.getConfig(tenant, '/app/only/on-b').catch((e: unknown) => e);
    expect(isFault(err, 'notFoundError')).toBe(true);
    expect(failover.active).toBe(0);
  });

  it('fails with the last error when no server answers', async () => {
    const urls = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    const failover = new FailoverRegistry(urls.map((url) => new HttpRegistry({ url, timeoutMs: 1000 })));
    open.push(failover);
    await expect(failover.listServices(freshTenant())).rejects.toMatchObject({ code: 'client.unreachable' });
  });

  it('a slow success on the server it started with does not move calls back there', async () => {
    // Two in-process registries behind the interface; the first answers one call late, then is "down".
    const [a, b] = [await registry(), await registry()];
    const tenant = freshTenant();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let aDown = false;
    const slowA = new Proxy(new HttpRegistry({ url: a.url }), {
      get(target, prop, receiver) {
        if (prop === 'getLimits') return async (t: string) => {
          await held;
          return target.getLimits(t);
        };
        if (prop === 'listServices' && aDown) return async () => {
          throw new TetherError('client.unreachable', 'down');
        };
        return Reflect.get(target, prop, receiver);
      },
    });
    const switches: Array<[number, number]> = [];
    const failover = new FailoverRegistry([slowA, new HttpRegistry({ url: b.url })], (from, to) => switches.push([from, to]));
    open.push(failover);
    const slow = failover.getLimits(tenant); // started on server 0, answers later
    aDown = true;
    await failover.listServices(tenant); // fails over to server 1
    expect(failover.active).toBe(1);
    release();
    await slow;
    expect(failover.active).toBe(1);
    expect(switches).toEqual([[0, 1]]);
  });
});
