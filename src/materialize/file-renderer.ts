import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import { TetherError } from '../lib/errors.js';
import type { FileSpec } from '../manifest/model.js';
import type { SourceData } from './data.js';
import type { FloorStatus } from './floor.js';
import { renderFormat, type RenderData } from './render.js';
import { describeContext, type Templates } from './template.js';
import { writeAtomically, type WriteResult } from './write.js';

/** One file in `/v1/status`. */
export interface FileStatus {
  path: string;
  origin: string;
  /** null until the first render. */
  ok: boolean | null;
  lastRender: number | null;
  /** When the bytes last changed on disk. */
  lastChange: number | null;
  lastError: { message: string; at: number } | null;
  /** Since when the registry could not be read (the file may be out of date; `ok` is false meanwhile), or null. */
  stale: { since: number; reason: string } | null;
  /** The floors of its services sources: `held` while any keeps its last good list; null without floors. */
  floor: { state: 'ok' | 'held'; sources: FloorStatus[] } | null;
}

/** `kept-floor`: a services list below its floor before any good list, so the file stays as it is (see Floor). */
export type RenderOutcome = { kind: 'written' | 'unchanged' | 'deleted' | 'kept-missing' | 'kept-floor' } | { kind: 'error'; message: string };

/** The name an unnamed source has in a template: by its kind. */
function defaultName(kind: RenderData['kind']): string {
  return kind === 'key' ? 'value' : kind === 'namespace' ? 'values' : 'services';
}

/**
 * Renders one file from the current data and writes it (atomically, only when
 * the bytes differ). A failure keeps the old file and is returned as an
 * outcome, never thrown: one bad file must not stop the others.
 */
export async function renderFile(
  spec: FileSpec,
  data: SourceData,
  templates: Templates,
  log: Logger,
  /** onVisible: told when the new bytes are in place, before they are durable (writeAtomically). */
  opts: { dryRun?: boolean; onVisible?: () => void } = {},
): Promise<{ outcome: RenderOutcome; content: string | null; write: WriteResult | null }> {
  try {
    const sources: Array<{ name: string; data: RenderData }> = [];
    for (const s of spec.sources) {
      const d = data.data(s.source);
      if (d === null) {
        // A services list below its floor with no good list yet (see Floor): the file stays as it is, whatever on_missing says.
        if (s.source.kind === 'services') return { outcome: { kind: 'kept-floor' }, content: null, write: null };
        const what = s.source.kind === 'key' ? `key ${s.source.key}` : s.source.kind === 'namespace' ? `namespace ${s.source.namespace}` : 'services';
        if (spec.onMissing === 'error') throw new TetherError('render.missing', `${what} does not exist`);
        if (spec.onMissing === 'delete') {
          if (!opts.dryRun) await unlink(spec.path).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
          return { outcome: { kind: 'deleted' }, content: null, write: null };
        }
        // A services source is never missing (no services is an empty list), so this is a key or namespace.
        return { outcome: { kind: 'kept-missing' }, content: null, write: null };
      }
      sources.push({ name: s.name ?? defaultName(d.kind), data: d });
    }
    const content =
      spec.format === 'template'
        ? await templates.render(spec.template as string, describeContext(spec.path, sources))
        : renderFormat(spec.format, (sources[0] as { data: RenderData }).data);
    if (opts.dryRun) return { outcome: { kind: 'unchanged' }, content, write: null };
    const holdsSecrets = spec.sources.some((s) => data.secret(s.source));
    const write = await writeAtomically(spec.path, content, { mode: spec.mode ?? (holdsSecrets ? 0o600 : null), owner: spec.owner, group: spec.group, check: spec.check, holdsSecrets, log, onVisible: opts.onVisible });
    return { outcome: { kind: write.changed ? 'written' : 'unchanged' }, content, write };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { outcome: { kind: 'error', message }, content: null, write: null };
  }
}
