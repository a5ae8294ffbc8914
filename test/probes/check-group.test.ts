import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckSpec } from '../../src/manifest/model.js';
import { CheckGroup, type CheckState } from '../../src/probes/check-group.js';
import type { Health } from '../../src/probes/thresholds.js';
import { TtlBoard } from '../../src/probes/ttl.js';
import { closedPort, startTcpTarget } from './targets.js';

/** CheckGroup with real TCP targets: the service's health follows every check, each check keeps its own state. */

let target: Awaited<ReturnType<typeof startTcpTarget>>;
let refused: number;
beforeAll(async () => {
  target = await startTcpTarget();
  refused = await closedPort();
});
afterAll(async () => {
  await target.close();
});

const tcp = (name: string, port: number, timeoutMs = 1000): CheckSpec => ({
  name,
  probe: { kind: 'tcp', host: '127.0.0.1', port },
  intervalMs: 100,
  timeoutMs,
  initialDelayMs: 0,
  rise: 1,
  fall: 1,
});

function group(checks: CheckSpec[]) {
  const transitions: Array<[Health, Health, string]> = [];
  const g = new CheckGroup({
    serviceId: 'svc-1',
    checks,
    ttl: new TtlBoard(),
    onResult: () => {},
    onCheckHealth: () => {},
    onHealth: (from, to, cause: CheckState) => void transitions.push([from, to, cause.name]),
    onError: (err) => {
      throw err;
    },
  });
  return { g, transitions };
}

describe('CheckGroup', () => {
  it('is healthy once every check passes, unhealthy when one fails, and names the check that decided', async () => {
    const up = group([tcp('a', target.port), tcp('b', target.port)]);
    up.g.start();
    await expect.poll(() => up.transitions, { timeout: 5000 }).toEqual([['unknown', 'healthy', expect.any(String)]]);
    expect(up.g.states().map((s) => [s.name, s.kind, s.health, s.last?.ok])).toEqual([
      ['a', 'tcp', 'healthy', true],
      ['b', 'tcp', 'healthy', true],
    ]);
    await up.g.stop();

    const down = group([tcp('a', target.port), tcp('b', refused)]);
    down.g.start();
    await expect.poll(() => down.transitions, { timeout: 5000 }).toEqual([['unknown', 'unhealthy', 'b']]);
    await expect.poll(() => down.g.states()[0]?.health, { timeout: 5000 }).toBe('healthy');
    expect(down.transitions).toHaveLength(1);
    await down.g.stop();
  });

  it('a check whose probe cannot be built is unhealthy for good with its reason, and so is the service, at start', async () => {
    const broken = group([tcp('a', target.port), tcp('bad', target.port, 0)]);
    broken.g.start();
    expect(broken.transitions).toEqual([['unknown', 'unhealthy', 'bad']]);
    expect(broken.g.states()[1]).toMatchObject({ name: 'bad', health: 'unhealthy', error: expect.stringContaining('timeout') });
    await expect.poll(() => broken.g.states()[0]?.health, { timeout: 5000 }).toBe('healthy');
    expect(broken.transitions).toHaveLength(1);
    await broken.g.stop();
    expect(broken.g.runTtlNow()).toBe(false);
  });
});
