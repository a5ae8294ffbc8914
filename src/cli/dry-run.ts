import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { formatPatch, FILE_HEADERS_ONLY, structuredPatch, type StructuredPatch } from 'diff';
import { describeExit, runProcess } from '../lib/process.js';
import { inheritedEnv } from '../lib/child-env.js';
import { CHECK_OUTPUT_HIDDEN } from '../materialize/write-check.js';
import type { FileSpec } from '../manifest/model.js';

/**
 * `render --dry-run` for one file: the unified diff of the rendered bytes
 * against the file on disk, and the file's check command run on the rendered
 * bytes (as consul-template's -dry and confd's check_cmd): what the agent
 * would write, and whether the check would let it through. Nothing next to
 * the destination is touched: the check gets a copy in a private temp dir.
 * A file that holds secret values (a source under a secret prefix) prints its
 * diff without its lines: a template may transform a value (base64, JSON
 * escapes) past any search for it, and the lines on disk may hold a former
 * secret nobody can name any more.
 */

export interface CheckReport {
  argv: string[];
  ok: boolean;
  /** "exit status 1", "timed out after 30000ms", or "exit status 0". */
  result: string;
  output: string;
}

export interface DryRunReport {
  path: string;
  /** `new`: no file on disk yet. */
  change: 'unchanged' | 'changed' | 'new';
  /** Unified diff (file headers and hunks), empty when unchanged; only headers and line counts when the file holds secrets. */
  diff: string;
  check: CheckReport | null;
}

const CHECK_TIMEOUT_MS = 30_000;

export async function dryRunFile(spec: FileSpec, content: string, holdsSecrets = false): Promise<DryRunReport> {
  const current = await readFile(spec.path, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
  const change = current === null ? 'new' : current === content ? 'unchanged' : 'changed';
  let diff = '';
  if (change !== 'unchanged') {
    const patch = structuredPatch(current === null ? '/dev/null' : spec.path, spec.path, current ?? '', content);
    diff = holdsSecrets ? hiddenPatch(patch) : formatPatch(patch, FILE_HEADERS_ONLY);
  }
  const check = spec.check ? await runCheckOn(spec.check, spec.path, content) : null;
  // A checker may quote the file (nginx -t, linters name the bad line), so its output can hold a secret too.
  if (check && holdsSecrets && check.output.trim() !== '') check.output = CHECK_OUTPUT_HIDDEN;
  return { path: spec.path, change, diff, check };
}

/**
 * The patch's file headers and hunk ranges, each hunk's lines replaced by their counts.
 * Built from the structured patch, not by parsing its text: a removed content line
 * "-- x" reads "--- x" in a unified diff, the same as a file header.
 */
export function hiddenPatch(patch: StructuredPatch): string {
  const out = [formatPatch({ ...patch, hunks: [] }, FILE_HEADERS_ONLY).trimEnd()];
  for (const h of patch.hunks) {
    out.push(`@@ -${range(h.oldStart, h.oldLines)} +${range(h.newStart, h.newLines)} @@`);
    const removed = h.lines.filter((l) => l.startsWith('-')).length;
    const added = h.lines.filter((l) => l.startsWith('+')).length;
    out.push(`  (${removed} lines removed, ${added} added: hidden, the file holds secret values)`);
  }
  return `${out.join('\n')}\n`;
}

/** A unified diff's range: "start,count", with start one less for an empty side (as diff -u prints it). */
function range(start: number, count: number): string {
  return `${count === 0 ? start - 1 : start},${count}`;
}

/** Runs `argv` with TETHER_STAGED_PATH naming a temp copy of `content` (same base name, for checks that look at it). */
async function runCheckOn(argv: string[], path: string, content: string): Promise<CheckReport> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-dry-run-'));
  try {
    const staged = join(dir, basename(path));
    await writeFile(staged, content);
    const env = { ...inheritedEnv(), TETHER_STAGED_PATH: staged };
    try {
      const r = await runProcess({ argv, env, timeoutMs: CHECK_TIMEOUT_MS, keep: 'tail' });
      const ok = r.code === 0 && !r.timedOut;
      return { argv, ok, result: r.timedOut ? `timed out after ${CHECK_TIMEOUT_MS}ms` : describeExit(r), output: r.output };
    } catch (err) {
      return { argv, ok: false, result: err instanceof Error ? err.message : String(err), output: '' };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The text form: the diff (or "unchanged PATH"), then one line for the check and its output. */
export function formatDryRun(r: DryRunReport): string {
  let text = r.change === 'unchanged' ? `unchanged ${r.path}\n` : r.diff.endsWith('\n') ? r.diff : `${r.diff}\n`;
  if (r.check) {
    text += `check ${r.check.ok ? 'ok' : 'FAILED'} (${r.check.result}): ${r.check.argv.join(' ')}\n`;
    const output = r.check.output.trimEnd();
    if (output !== '') text += `${output.replace(/^/gm, '  ')}\n`;
  }
  return text;
}
