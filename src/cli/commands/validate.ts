import { formatIssue } from '../../manifest/issues.js';
import { loadManifest } from '../../manifest/load.js';
import { out, outJson, parse, positionals, UsageError, type Command } from '../command.js';

const help = `Usage: tether validate --config PATH [--json]

Checks a manifest (a file, or a directory of *.yaml files merged in name order)
without starting anything. Prints every issue as FILE:LINE:COLUMN: PATH: MESSAGE
and exits 1, or prints a summary and exits 0. \${VAR} references are resolved
from the environment, as the agent would.

  --json   print {"ok", "files", "services", "issues": [{file, line, column, path, message}]}
`;

const options = { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a manifest without starting anything',
  help,
  options,
  async run(argv) {
    const { values, positionals: pos } = parse('validate', argv, options);
    if (values.help) return (out(help), 0);
    positionals('validate', pos, []);
    if (values.config === undefined) throw new UsageError('--config PATH is required', 'validate');
    const { manifest, issues } = await loadManifest(values.config);
    if (values.json) {
      outJson({ ok: manifest !== null, files: manifest?.sourceFiles ?? [], services: manifest?.services.length ?? 0, issues });
      return manifest ? 0 : 1;
    }
    if (!manifest) {
      out(`${issues.map(formatIssue).join('\n')}\n`);
      process.stderr.write(`${issues.length} issue${issues.length === 1 ? '' : 's'} in ${values.config}\n`);
      return 1;
    }
    out(`ok: ${manifest.services.length} service${manifest.services.length === 1 ? '' : 's'} in ${manifest.sourceFiles.join(', ')}\n`);
    return 0;
  },
};
