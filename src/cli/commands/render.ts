import { httpUpstream } from '../../agent/agent.js';
import { formatIssue } from '../../manifest/issues.js';
import { loadManifest } from '../../manifest/load.js';
import { SourceData } from '../../materialize/data.js';
import { renderFile, type RenderOutcome } from '../../materialize/file-renderer.js';
import { Templates } from '../../materialize/template.js';
import { openLogger } from '../../observability/logger.js';
import type { FileSpec } from '../../manifest/model.js';
import { out, outJson, parse, positionals, UsageError, type Command } from '../command.js';
import { dryRunFile, formatDryRun, type DryRunReport } from '../dry-run.js';
import { LOG_HELP, logOptions, logSettings } from '../log-flags.js';

const help = `Usage: tether render --config PATH --once [--dry-run] [--json]

One full sync with the registry (upstream.url) and one render of every file
in the manifest, then exit: for Kubernetes init containers and CI. Files are
written atomically and only when their bytes change; reload actions do not
run (nothing is running yet to reload).

  --dry-run                   write nothing; print a unified diff of each file
                              against the one on disk, and run the file's check
                              command on the rendered bytes (TETHER_STAGED_PATH)
  --json                      print one JSON array, an object per file
${LOG_HELP.replace('default info', 'default warn')}

Exit status: 0 when every file is written or unchanged, 1 when any file
failed (the old file stays) or, with --dry-run, any check failed, 3 when the
registry cannot be reached.
`;

const options = {
  config: { type: 'string', short: 'c' },
  once: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  ...logOptions,
  help: { type: 'boolean', short: 'h' },
} as const;

export const renderCommand: Command = {
  name: 'render',
  summary: 'render every file once from the registry and exit (init containers, CI)',
  help,
  options,
  async run(argv) {
    const { values, positionals: pos } = parse('render', argv, options);
    if (values.help) return (out(help), 0);
    positionals('render', pos, []);
    if (values.config === undefined) throw new UsageError('--config PATH is required', 'render');
    if (!values.once) throw new UsageError('--once is required (the agent renders continuously)', 'render');
    const dryRun = values['dry-run'] === true;
    const logging = logSettings('render', values);
    const { manifest, issues } = await loadManifest(values.config);
    if (!manifest) {
      process.stderr.write(`${issues.map(formatIssue).join('\n')}\nerror: the manifest is invalid\n`);
      return 1;
    }
    const log = await openLogger({ ...logging, level: logging.level ?? 'warn' });
    const upstream = await httpUpstream(manifest);
    try {
      const data = new SourceData(manifest.files.flatMap((f) => f.sources.map((s) => s.source)));
      await data.sync(upstream.registry, upstream.tenant);
      const templates = new Templates();
      const results: FileResult[] = [];
      for (const spec of manifest.files) {
        const { outcome, content } = await renderFile(spec, data, templates, log, { dryRun });
        const result = await fileResult(spec, outcome, content, dryRun, spec.sources.some((s) => data.secret(s.source)));
        results.push(result);
        if (!values.json) printResult(result);
      }
      if (values.json) outJson(results);
      return results.some((r) => r.outcome === 'error' || r.check?.ok === false) ? 1 : 0;
    } finally {
      await upstream.close();
    }
  },
};

/** One file's result: what happened (or, dry, would happen), with the diff and check of a dry run. */
type FileResult = { path: string; outcome: string; error?: string } & Partial<Omit<DryRunReport, 'path'>>;

async function fileResult(spec: FileSpec, outcome: RenderOutcome, content: string | null, dryRun: boolean, holdsSecrets: boolean): Promise<FileResult> {
  if (outcome.kind === 'error') return { path: spec.path, outcome: 'error', error: outcome.message };
  if (!dryRun) return { path: spec.path, outcome: outcome.kind };
  if (content === null) return { path: spec.path, outcome: outcome.kind === 'deleted' ? 'would-delete' : outcome.kind };
  const report = await dryRunFile(spec, content, holdsSecrets);
  return { ...report, outcome: report.change === 'unchanged' ? 'unchanged' : 'would-write' };
}

function printResult(r: FileResult): void {
  if (r.outcome === 'error') process.stderr.write(`error: ${r.path}: ${r.error ?? ''}\n`);
  else if (r.change !== undefined) out(formatDryRun({ path: r.path, change: r.change, diff: r.diff ?? '', check: r.check ?? null }));
  else out(`${r.outcome} ${r.path}\n`);
}
