import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdRegistry, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { spawnProc, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Debian's python3-zaqarclient (API version 1, no-auth backend, a project id)
 * drives every v1 call it has against a real `tether registry` process, over
 * SQLite and over etcd. The client is not optional: without it the driver cannot import and this fails.
 */

const DRIVER = join(fileURLToPath(new URL('.', import.meta.url)), 'zaqar', 'driver.py');

function describeZaqarRun(store: string, start: (dataDir: string) => Promise<RegistryProc>): void {
  describe(`python-zaqarclient (v1) against tether registry --store ${store}`, () => {
    let tmp: TempDir;
    let registry: RegistryProc;
    let steps: Map<string, unknown>;
    let exit: { code: number | null; stderr: string };

    beforeAll(async () => {
      tmp = await createTempDir('queues-zaqar');
      registry = await start(join(tmp.path, 'data'));
      const py = spawnProc('/usr/bin/python3', [DRIVER, registry.url, 'zaqar-project'], { env: { PATH: process.env.PATH ?? '' } });
      const { code } = await py.exited;
      exit = { code, stderr: py.log.join('\n') };
      steps = new Map();
      for (const line of py.stdout().split('\n')) {
        if (line.trim() === '') continue;
        const { step, value } = JSON.parse(line) as { step: string; value: unknown };
        steps.set(step, value);
      }
    }, 90_000);

    afterAll(async () => {
      await registry?.stop();
      await tmp?.remove();
    });

    it('the driver runs every call to the end (exit 0)', () => {
      expect(exit.stderr).toBe('');
      expect(exit.code).toBe(0);
      expect(steps.get('done')).toBe(true);
    });

    it('health and the home document', () => {
      expect(steps.get('health')).toBe(true);
      expect(steps.get('home')).toEqual(['rel/claim', 'rel/messages', 'rel/post-messages', 'rel/queue', 'rel/queue-metadata', 'rel/queue-stats', 'rel/queues']);
    });

    it('queues: create, exists, list (one page and paged through next links), metadata, stats, delete', () => {
      expect(steps.get('exists')).toBe(true);
      expect(steps.get('exists_missing')).toBe(false);
      expect(steps.get('queues')).toEqual(['zq-demo', 'zq-second']);
      expect(steps.get('queues_paged')).toEqual(['zq-demo', 'zq-second']);
      expect(steps.get('metadata')).toEqual({ owner: 'ops', messages: { ttl: 600 } });
      expect(steps.get('stats_empty')).toEqual({ messages: { claimed: 0, free: 0, total: 0 } });
      expect(steps.get('exists_after_delete')).toBe(false);
      expect(steps.get('queues_after_delete')).toEqual(['zq-second']);
    });

    it('messages: post (list and single), list with echo and paging, get, get by ids, delete, bulk delete', () => {
      expect(steps.get('post')).toEqual({ count: 5, partial: false });
      expect(steps.get('post_single')).toBe(1);
      expect(steps.get('list_own_hidden')).toEqual([]);
      expect(steps.get('list_echo')).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }, 'solo']);
      expect(steps.get('list_paged')).toEqual([0, 1, 2, 3, 4, 'solo']);
      expect(steps.get('get')).toEqual({ body: { i: 0 }, ttl: 300, age_ok: true });
      expect(steps.get('get_many')).toEqual([1, 2]);
      expect(steps.get('get_deleted')).toEqual({ error: 'ResourceNotFound' });
      expect(steps.get('get_many_deleted')).toBeNull();
    });

    it('claims: create, its messages carry the claim id, get, update, delete with claim id, release', () => {
      expect(steps.get('claim')).toEqual({ count: 2, ids_match: true });
      expect(steps.get('list_claimed_hidden')).toEqual(['solo']);
      expect(steps.get('list_include_claimed')).toBe(3);
      expect(steps.get('delete_claimed_without_claim')).toEqual({ error: 'ForbiddenError', title: 'Unable to delete' });
      expect(steps.get('claim_get')).toEqual({ ttl: 180, age_ok: true, count: 2 });
      expect(steps.get('stats_claimed')).toMatchObject({ claimed: 1, free: 1, total: 2 });
      expect(steps.get('claim_get_released')).toEqual({ error: 'ResourceNotFound' });
      expect(steps.get('stats_released')).toMatchObject({ claimed: 0, free: 2, total: 2 });
    });

    it('faults reach the client with their spec titles', () => {
      expect(steps.get('post_bad_ttl')).toEqual({ error: 'MalformedRequest', title: 'Invalid API call' });
      expect(steps.get('claim_bad_grace')).toEqual({ error: 'MalformedRequest', title: 'Invalid API call' });
    });
  });
}

describeZaqarRun('sqlite', (data) => startRegistry(data));

const etcd = useEtcd();
describeZaqarRun('etcd', () => startEtcdRegistry(etcd().endpoints, uniquePrefix()));
