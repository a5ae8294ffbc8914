import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dryRunFile, formatDryRun } from '../../src/cli/dry-run.js';
import type { FileSpec } from '../../src/manifest/model.js';
import { writeAtomically } from '../../src/materialize/write.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

// Review R9 F3/F7: a file that holds secret values shows neither its lines nor a check's output
// (a checker quotes the line it rejects), in `render --dry-run` and in the agent's write error.

function fileSpec(path: string, check: string[] | null = null): FileSpec {
  return {
    path, sources: [], format: 'template', template: null, mode: null, owner: null, group: null,
    check, onChange: null, waitMinMs: 0, waitMaxMs: 0, onMissing: 'keep', origin: 'test:1',
  } as FileSpec;
}

const QUOTING_CHECK = ['sh', '-c', 'echo "error in line: $(cat "$TETHER_STAGED_PATH")"; exit 1'];

describe('secret files: no content in dry-run diffs or check output', () => {
  let tmp: TempDir;
  beforeEach(async () => {
    tmp = await createTempDir('dry-run-secrets');
  });
  afterEach(() => tmp.remove());

  it('prints no content line, even one that reads like a file header ("-- x" removed, "++ x" added)', async () => {
    const path = await tmp.write('app.conf', 'user = app\n-- password: OLD-S3CRET\n');
    const report = await dryRunFile(fileSpec(path), 'user = app\n++ token: NEW-S3CRET\n', true);
    const text = formatDryRun(report);
    expect(text).not.toContain('S3CRET');
    expect(text).toBe(`--- ${path}\n+++ ${path}\n@@ -1,2 +1,2 @@\n  (1 lines removed, 1 added: hidden, the file holds secret values)\n`);
  });

  it('still prints the lines of a file without secrets', async () => {
    const path = await tmp.write('app.conf', 'user = app\n-- note: old\n');
    const report = await dryRunFile(fileSpec(path), 'user = app\n++ note: new\n', false);
    expect(report.diff).toContain('\n--- note: old\n+++ note: new\n');
  });

  it("hides a failed check's output in the dry run, and keeps its status", async () => {
    const report = await dryRunFile(fileSpec(join(tmp.path, 'new.conf'), QUOTING_CHECK), 'password = S3CRET\n', true);
    const text = formatDryRun(report);
    expect(text).not.toContain('S3CRET');
    expect(text).toContain('check FAILED (exit status 1)');
    expect(text).toContain('(output hidden: the file holds secret values)');
    const plain = await dryRunFile(fileSpec(join(tmp.path, 'new.conf'), QUOTING_CHECK), 'password = visible\n', false);
    expect(formatDryRun(plain)).toContain('error in line: password = visible');
  });

  it("leaves a failed check's output out of the agent's write error for a secret file", async () => {
    const dest = await tmp.write('app.conf', 'old\n');
    const err = await writeAtomically(dest, 'password = S3CRET\n', { check: QUOTING_CHECK, holdsSecrets: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'write.check_failed' });
    expect((err as Error).message).not.toContain('S3CRET');
    expect((err as Error).message).toContain('exit status 1: (output hidden: the file holds secret values); the file was not changed');
    expect(await readFile(dest, 'utf8')).toBe('old\n');
  });
});
