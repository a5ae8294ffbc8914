import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/clean-copy.js';

const run = promisify(execFile);

/**
 * A fresh clone in a folder with nothing beside it must pass: the spec and the
 * wire fixtures the tests replay are in spec/, and nothing the tests, benches
 * or scripts run names a path outside the checkout.
 */
describe('the repository stands alone', () => {
  it('holds the specs and their fixtures, and no test, bench, script or source reads beside the checkout', async () => {
    for (const f of ['spec/registry-api-v1.md', 'spec/queues-api-v1.md', 'spec/fixtures/request/services-post.json', 'spec/fixtures/response/services-get.json']) {
      expect(existsSync(join(repoRoot, f)), f).toBe(true);
    }
    const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, maxBuffer: 16 << 20 });
    const code = stdout.split('\0').filter((f) => /^(test|bench|src|scripts|\.ci)\/.*\.(ts|mjs|js|sh)$|^\.ci\/run$/.test(f) && existsSync(join(repoRoot, f)));
    expect(code.length).toBeGreaterThan(50);
    // Built so that this file does not name what it looks for.
    const beside = ['..', 'shared'].join('/');
    const outside: string[] = [];
    for (const f of code) if ((await readFile(join(repoRoot, f), 'utf8')).includes(beside)) outside.push(f);
    expect(outside).toEqual([]);
  });
});
