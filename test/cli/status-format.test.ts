import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../src/agent/status.js';
import { formatStatus } from '../../src/cli/commands/status.js';
import type { FileStatus } from '../../src/materialize/file-renderer.js';

/** `tether status`'s text form says when a file shows its last good list because of a floor (review R18, issue 18 item 8). */

function file(path: string, floor: FileStatus['floor']): FileStatus {
  return { path, origin: '/etc/tether/tether.yaml:9', ok: true, lastRender: 1_800_000_000_000, lastChange: null, lastError: null, stale: null, floor };
}

function status(files: FileStatus[]): AgentStatus {
  return {
    version: '0.1.0',
    startedAt: 1_800_000_000_000,
    ready: true,
    upstream: { url: 'http://127.0.0.1:8470/v1.0/default', tenant: 'default', mode: 'session', session: 'se1', lastError: null },
    manifest: { files: ['/etc/tether/tether.yaml'], loadedAt: 1_800_000_000_000, issues: [] },
    workers: [],
    maintenance: { agent: null, services: {} },
    services: [],
    files,
  };
}

describe('tether status text', () => {
  it('shows a file held by its floor as held, and one whose floor is ok as ok', () => {
    const held = { source: 'services', state: 'held' as const, count: 1, kept: 4, reference: 4, min: 2, percent: null, since: 1_800_000_000_000 };
    const text = formatStatus(
      status([
        file('/etc/haproxy/backends.json', { state: 'held', sources: [held] }),
        file('/etc/haproxy/other.json', { state: 'ok', sources: [{ ...held, state: 'ok', count: 4, since: null }] }),
      ]),
    );
    expect(text).toMatch(/^\/etc\/haproxy\/backends\.json +held \(floor\) /m);
    expect(text).toMatch(/^\/etc\/haproxy\/other\.json +ok /m);
  });
});
