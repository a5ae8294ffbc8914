import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ActionSpec, HookSpec } from '../../src/manifest/model.js';
import { ActionRunner, type ActionResult } from '../../src/materialize/actions.js';
import { HookDispatcher, matchHook, type HookRunner } from '../../src/materialize/hooks.js';
import type { RegistryEvent, ServicePayload } from '../../src/registry/types.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

let dir: TempDir;
let n = 0;
beforeAll(async () => {
  dir = await createTempDir('hooks');
});
afterAll(async () => {
  await dir.remove();
});

let seq = 0;
const service = (type: 'service.join' | 'service.remove' | 'service.timeout', id: string, tags: string[]): RegistryEvent => {
  const payload: ServicePayload = { id, tags, metadata: {}, heartbeat_timeout: 10 };
  return { id: `ev-${++seq}`, timestamp: 1_700_000_000 + seq, type, payload };
};
const update = (key: string, value: string): RegistryEvent => ({
  id: `ev-${++seq}`,
  timestamp: 1_700_000_000 + seq,
  type: 'configuration_value.update',
  payload: { old_value: null, new_value: value, configuration_value_id: key },
});
const remove = (key: string): RegistryEvent => ({
  id: `ev-${++seq}`,
  timestamp: 1_700_000_000 + seq,
  type: 'configuration_value.remove',
  payload: { old_value: 'x', configuration_value_id: key },
});

const noop: ActionSpec = { kind: 'exec', argv: ['true'], shell: false, timeoutMs: 1000 };
const hook = (on: string[], filter: Partial<HookSpec['filter']> = {}, action: ActionSpec = noop): HookSpec => ({
  on,
  filter: { serviceTag: null, serviceIdPrefix: null, keyPrefix: null, ...filter },
  action: { name: null, action },
  origin: `hooks[${++n}]`,
});

describe('matchHook', () => {
  const join1 = service('service.join', 'web-1', ['web', 'prod']);
  const timeout = service('service.timeout', 'db-1', ['db']);
  const upd = update('/prod/db/url', 'pg://');
  const rm = remove('/staging/x');
  const ALL = ['service.join', 'service.remove', 'service.timeout', 'configuration_value.update', 'configuration_value.remove'];

  const cases: Array<[string, HookSpec, RegistryEvent, boolean]> = [
    ['type listed', hook(['service.join']), join1, true],
    ['type not listed', hook(['service.remove']), join1, false],
    ['config type listed', hook(['configuration_value.update']), upd, true],
    ['all types, no filter: config remove', hook(ALL), rm, true],
    ['tag present', hook(ALL, { serviceTag: 'prod' }), join1, true],
    ['tag absent', hook(ALL, { serviceTag: 'db' }), join1, false],
    ['tag is exact, not a substring', hook(ALL, { serviceTag: 'pro' }), join1, false],
    ['id prefix', hook(ALL, { serviceIdPrefix: 'web-' }), join1, true],
    ['id prefix mismatch', hook(ALL, { serviceIdPrefix: 'db-' }), join1, false],
    ['tag and id prefix both pass', hook(ALL, { serviceTag: 'db', serviceIdPrefix: 'db' }), timeout, true],
    ['tag passes, id prefix fails', hook(ALL, { serviceTag: 'db', serviceIdPrefix: 'web' }), timeout, false],
    ['service filter never matches a config event', hook(ALL, { serviceTag: 'web' }), upd, false],
    ['id prefix never matches a config event', hook(ALL, { serviceIdPrefix: '/prod' }), upd, false],
    ['key prefix', hook(ALL, { keyPrefix: '/prod/' }), upd, true],
    ['key prefix mismatch', hook(ALL, { keyPrefix: '/staging/' }), upd, false],
    ['key prefix on a remove', hook(ALL, { keyPrefix: '/staging/' }), rm, true],
    ['key prefix never matches a service event', hook(ALL, { keyPrefix: 'web' }), join1, false],
    ['empty key prefix matches every key, still no service event', hook(ALL, { keyPrefix: '' }), join1, false],
  ];
  it.each(cases)('%s', (_name, h, event, expected) => {
    expect(matchHook(h, event)).toBe(expected);
  });
});

describe('HookDispatcher with real actions', () => {
  const runners: ActionRunner[] = [];
  const runnerFor = (h: HookSpec) => {
    const r = new ActionRunner(h.action.action, { backoff: { initialMs: 10, maxMs: 50 } });
    runners.push(r);
    return r;
  };
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.destroy()));
  });
  const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : []);

  it('runs an exec hook once per matching event, in order, with the event as JSON on stdin', async () => {
    const out = join(dir.path, `events-${++n}`);
    // Appends one line per run: its stdin. The sleep makes overlapping runs visible as disorder.
    const exec: ActionSpec = { kind: 'exec', argv: ['/bin/sh', '-c', `sleep 0.02; cat >> ${out}; echo >> ${out}`], shell: false, timeoutMs: 5000 };
    const results: Array<ActionResult | null> = [];
    const d = new HookDispatcher({
      hooks: [hook(['service.join', 'service.remove'], { serviceTag: 'web' }, exec)],
      runnerFor,
      onResult: (_h, _e, r) => results.push(r),
    });
    const batch1 = [service('service.join', 'web-1', ['web']), update('/k', 'v'), service('service.join', 'db-1', ['db']), service('service.join', 'web-2', ['web'])];
    const batch2 = [service('service.remove', 'web-1', ['web']), service('service.timeout', 'web-2', ['web'])];
    d.deliver(batch1);
    d.deliver(batch2);
    const expected = [batch1[0], batch1[3], batch2[0]];
    await vi.waitFor(() => expect(lines(out)).toHaveLength(3), { timeout: 5000 });
    await d.idle();
    expect(lines(out).map((l) => JSON.parse(l) as unknown)).toEqual(expected);
    expect(results.map((r) => r?.ok)).toEqual([true, true, true]);
    expect(d.stats()).toEqual([{ origin: expect.any(String), queued: 0, dropped: 0, ran: 3 }]);
    await d.close();
  });

  it('posts each event as the body of an http hook', async () => {
    const bodies: string[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const d = new HookDispatcher({
        hooks: [hook(['configuration_value.update'], { keyPrefix: '/prod/' }, { kind: 'http', url, method: 'POST', headers: {}, timeoutMs: 2000 })],
        runnerFor,
      });
      const events = [update('/prod/a', '1'), update('/dev/a', '2'), update('/prod/b', '3')];
      d.deliver(events);
      await d.idle();
      expect(bodies.map((b) => JSON.parse(b) as unknown)).toEqual([events[0], events[2]]);
      await d.close();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('HookDispatcher queueing', () => {
  /** A runner the test completes by hand (a seam we own): records inputs, resolves when released. */
  function gatedRunner() {
    const inputs: string[] = [];
    const gates: Array<() => void> = [];
    const runner: HookRunner = {
      run: (input, signal) => {
        inputs.push(input);
        return new Promise((resolve) => {
          const done = (): void => resolve({ ok: true, output: 'done', durationMs: 0 });
          gates.push(done);
          signal?.addEventListener('abort', done, { once: true }); // close(): the "attempt" ends
        });
      },
    };
    const releaseOne = () => gates.shift()?.();
    return { runner, inputs, releaseOne, gates };
  }
  const ids = (inputs: string[]) => inputs.map((i) => (JSON.parse(i) as { id: string }).id);

  it('runs one event at a time per hook, and hooks independently', async () => {
    const a = gatedRunner();
    const b = gatedRunner();
    const hooks = [hook(['service.join']), hook(['service.join'])];
    const d = new HookDispatcher({ hooks, runnerFor: (_h, i) => (i === 0 ? a.runner : b.runner) });
    const events = [service('service.join', 's1', []), service('service.join', 's2', [])];
    d.deliver(events);
    await vi.waitFor(() => expect([a.inputs.length, b.inputs.length]).toEqual([1, 1]));
    b.releaseOne();
    await vi.waitFor(() => expect(b.inputs).toHaveLength(2));
    expect(a.inputs).toHaveLength(1); // a's first run is still going
    a.releaseOne();
    b.releaseOne();
    await vi.waitFor(() => expect(a.inputs).toHaveLength(2));
    a.releaseOne();
    await d.idle();
    expect(ids(a.inputs)).toEqual([events[0]?.id, events[1]?.id]);
    expect(d.stats().map((s) => s.ran)).toEqual([2, 2]);
  });

  it('drops the oldest queued events beyond the limit, and counts them', async () => {
    const g = gatedRunner();
    const dropped: string[] = [];
    const d = new HookDispatcher({
      hooks: [hook(['service.join'])],
      runnerFor: () => g.runner,
      queueLimit: 2,
      onDrop: (_h, e) => dropped.push(e.id),
    });
    const events = Array.from({ length: 5 }, (_, i) => service('service.join', `s${i}`, []));
    d.deliver(events.slice(0, 1));
    await vi.waitFor(() => expect(g.inputs).toHaveLength(1)); // e0 running, off the queue
    d.deliver(events.slice(1));
    expect(d.stats()[0]).toMatchObject({ queued: 2, dropped: 2 });
    expect(dropped).toEqual([events[1]?.id, events[2]?.id]);
    for (let i = 0; i < 3; i++) {
      await vi.waitFor(() => expect(g.gates).toHaveLength(1));
      g.releaseOne();
    }
    await d.idle();
    expect(ids(g.inputs)).toEqual([events[0]?.id, events[3]?.id, events[4]?.id]);
    expect(d.stats()[0]).toMatchObject({ queued: 0, dropped: 2, ran: 3 });
  });

  it('close() drops the queue, ends the run in flight, and ignores later batches', async () => {
    const g = gatedRunner();
    const d = new HookDispatcher({ hooks: [hook(['service.join'])], runnerFor: () => g.runner });
    d.deliver([service('service.join', 'a', []), service('service.join', 'b', [])]);
    await vi.waitFor(() => expect(g.inputs).toHaveLength(1));
    await d.close(); // the gated run settles on the abort
    d.deliver([service('service.join', 'c', [])]);
    await d.idle();
    expect(g.inputs).toHaveLength(1);
    expect(d.stats()[0]).toMatchObject({ queued: 0, ran: 1 });
  });
});
