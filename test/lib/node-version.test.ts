import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../helpers/dockerfile.js';

/**
 * One Node version for the image and for CI's second run: .node-version
 * names it exactly; the Dockerfile's NODE_IMAGE is that version's image and
 * scripts/test.sh installs the version the file names (never a version of its own).
 */

const root = resolve(import.meta.dirname, '..', '..');
const read = (f: string): Promise<string> => readFile(join(root, f), 'utf8');

describe('the pinned Node version', () => {
  it('.node-version, the Dockerfile and scripts/test.sh agree', async () => {
    const version = (await read('.node-version')).trim();
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    const df = parseDockerfile(await read('Dockerfile'));
    expect(df.args.NODE_IMAGE).toBe(`node:${version}-bookworm-slim`);
    // Every stage is built on it.
    expect(df.stages.filter((s) => !/^(build|prod-deps)$/.test(s.from)).map((s) => s.from)).toEqual([`node:${version}-bookworm-slim`, `node:${version}-bookworm-slim`]);

    const script = await read('scripts/test.sh');
    expect(script).toContain('version=$(tr -d \'[:space:]\' <.node-version)');
    expect(script).toContain('"node-linux-$arch@$version"');
    // No Node version written into the script itself.
    expect(script.match(/\b\d{2}\.\d+\.\d+\b/g) ?? []).toEqual([]);
  });

  it('is an even (LTS) major that package.json engines accept', async () => {
    const major = Number((await read('.node-version')).trim().split('.')[0]);
    expect(major % 2).toBe(0);
    const engines = (JSON.parse(await read('package.json')) as { engines: { node: string } }).engines.node;
    // The range's upper bound (`<N`) leaves room for this major.
    const upper = Number(/<\s*(\d+)/.exec(engines)?.[1] ?? Infinity);
    expect(major).toBeLessThan(upper);
  });
});
