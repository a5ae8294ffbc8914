import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/command.js';
import { devHints, parseSeed } from '../../src/cli/dev-hints.js';
import { loadManifest } from '../../src/manifest/load.js';

const root = join(import.meta.dirname, '..', '..');

describe('tether dev hints', () => {
  it('name the example manifest real key, file and TTL service, without --url for the default registry', async () => {
    const { manifest } = await loadManifest(join(root, 'config.example.yaml'), {});
    expect(manifest).not.toBeNull();
    const hints = devHints(manifest!, 'http://127.0.0.1:8470/v1.0/default', 'http://127.0.0.1:8471', root);
    expect(hints[0]).toMatch(/^npx tether services list +#/);
    expect(hints).toContainEqual(expect.stringMatching(/^npx tether config set \/demo\/greeting hello && cat demo\/greeting\.txt +#/));
    expect(hints).toContainEqual(expect.stringMatching(/^curl -X POST http:\/\/127\.0\.0\.1:8471\/v1\/checks\/demo-ttl\/pass +#/));
    expect(hints.at(-1)).toMatch(/^curl http:\/\/127\.0\.0\.1:8471\/v1\/status +#/);
  });

  it('add --url for another registry, and show paths outside the working directory in full', async () => {
    const { manifest } = await loadManifest(join(root, 'config.example.yaml'), {});
    const hints = devHints(manifest!, 'http://127.0.0.1:9000/v1.0/t1', 'http://127.0.0.1:9001', '/nowhere');
    expect(hints[0]).toContain('npx tether services list --url http://127.0.0.1:9000/v1.0/t1');
    expect(hints[1]).toContain(`cat ${join(root, 'demo', 'greeting.txt')}`);
  });

  it('--seed takes KEY=VALUE, the value may hold "="', () => {
    expect(parseSeed('/demo/greeting=Hello from Tether')).toEqual(['/demo/greeting', 'Hello from Tether']);
    expect(parseSeed('k=a=b')).toEqual(['k', 'a=b']);
    expect(parseSeed('k=')).toEqual(['k', '']);
    expect(() => parseSeed('=v')).toThrow(UsageError);
    expect(() => parseSeed('novalue')).toThrow(UsageError);
  });
});
