import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionHeartBeater } from '../../src/client/heartbeater.js';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Issue 19 item 4 with the agent's own client: HttpRegistry (10 s request
 * deadline) and SessionHeartBeater. During a 15 s SIGSTOP every heartbeat
 * times out and is retried with the same token; the timed-out requests still
 * sit in the server's sockets. Run at resume, they would consume the tokens
 * the retries carry (404: the agent re-registers everything). Right after a
 * stall, same-token heartbeats share one reply, so no session is lost.
 */

let tmp: TempDir;
let registry: RegistryProc;

beforeAll(async () => {
  tmp = await createTempDir('stall-client');
  registry = await startRegistry(join(tmp.path, 'data'));
});
afterAll(async () => {
  registry.child.kill('SIGCONT');
  await registry.stop();
  await tmp.remove();
});

describe('the client library through a 15 s server stall', () => {
  it('keeps all 8 sessions: heartbeats time out and retry, none is told its session is gone', async () => {
    const reg = new HttpRegistry({ url: registry.url });
    const gone: number[] = [];
    const timeouts: number[] = [];
    const beats: number[] = [];
    const keepers: SessionHeartBeater[] = [];
    for (let i = 0; i < 8; i++) {
      const s = await reg.createSession('fleet', { heartbeat_timeout: 6 });
      const k = new SessionHeartBeater({ registry: reg, tenant: 'fleet', sessionId: s.id, token: s.token, timeoutSec: 6 });
      k.on('gone', () => gone.push(i));
      k.on('error', (err) => (err as { code?: string }).code === 'client.timeout' && timeouts.push(i));
      k.on('beat', () => beats.push(i));
      k.start();
      keepers.push(k);
    }
    try {
      await expect.poll(() => beats.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(8);
      registry.child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 15_000));
      registry.child.kill('SIGCONT');
      const beatsAtResume = beats.length;
      // Every keeper beats again right after the resume (the replies to the requests that waited out the stall)...
      await expect.poll(() => new Set(beats.slice(beatsAtResume)).size, { timeout: 4_000, interval: 100 }).toBe(8);
      await new Promise((r) => setTimeout(r, 3000));
      // ... and none was told its session is gone, though their requests did time out during the stall.
      expect(timeouts.length).toBeGreaterThanOrEqual(8);
      expect(gone).toEqual([]);
      for (const k of keepers) expect((await reg.getSession('fleet', k.sessionId)).id).toBe(k.sessionId);
      console.log(`stall: ${timeouts.length} heartbeat timeouts, 0 sessions lost`);
    } finally {
      for (const k of keepers) await k.stop();
      await reg.close();
    }
  }, 90_000);
});
