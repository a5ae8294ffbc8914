import { readFile } from 'node:fs/promises';
import { httpUpstream } from '../../agent/agent.js';
import { formatIssue } from '../../manifest/issues.js';
import { loadManifest } from '../../manifest/load.js';
import { SourceData } from '../../materialize/data.js';
import { renderFile } from '../../materialize/file-renderer.js';
import { Templates } from '../../materialize/template.js';
import { openLogger } from '../../observability/logger.js';
import { out, parse, positionals, UsageError, type Command } from '../command.js';
import { LOG_HELP, logOptions, logSettings } from '../log-flags.js';

const help = `Usage: tether render --config PATH --once [--dry-run]

One full sync with the registry (upstream.url) and one render of every file
in the manifest, then exit: for Kubernetes init containers and CI. Files are
written atomically and only when their bytes change; reload actions do not
run (nothing is running yet to reload).

  --dry-run                   write nothing; print what would change
${LOG_HELP.replace('default info', 'default warn')}

Exit status: 0 when every file is written or unchanged, 1 when any file
failed (the old file stays), 3 when the registry cannot be reached.
`;

const options = {
  config: { type: 'string', short: 'c' },
  once: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  ...logOptions,
  help: { type: 'boolean', short: 'h' },
} as const;

export const renderCommand: Command = {
  name: 'render',
  summary: 'render every file once from the registry and exit (init containers, CI)',
  help,
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
      let failed = 0;
      for (const spec of manifest.files) {
        const { outcome, content } = await renderFile(spec, data, templates, log, { dryRun });
        if (outcome.kind === 'error') {
          failed++;
          process.stderr.write(`error: ${spec.path}: ${outcome.message}\n`);
        } else if (dryRun && content !== null) {
          const current = await readFile(spec.path, 'utf8').catch(() => null);
          out(current === content ? `unchanged ${spec.path}\n` : `would write ${spec.path} (${Buffer.byteLength(content)} bytes):\n${content}${content.endsWith('\n') ? '' : '\n'}`);
        } else {
          out(`${outcome.kind} ${spec.path}\n`);
        }
      }
      return failed > 0 ? 1 : 0;
    } finally {
      await upstream.close();
    }
  },
};
