import { TetherError } from '../../lib/errors.js';
import { out, parse, positionals, UsageError, type Command } from '../args.js';
import { LOG_HELP, logOptions, logSettings } from '../log-flags.js';

const help = `Usage: tether exec --config PATH [--log-level LEVEL] [--log-format json|pretty] [-- CMD ARGS...]

Runs CMD (else the manifest's exec.command) as tether's child, without a
shell, in its own process group, next to the agent (files, services, local
API). Before it starts, every file of the manifest is rendered and its
environment is read from configuration values (exec.env), within
exec.render_timeout (default 30s). A changed file restarts or signals the
child (exec.on_change, exec.files); a changed variable always restarts it.

SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 are forwarded to the child. On
SIGINT or SIGTERM the child's service (exec.service) is deregistered first,
then after exec.drain the signal goes to the child, SIGKILL after
exec.kill_timeout. A crashed child is restarted per exec.restart.

Options:
${LOG_HELP}

Exit status: the child's exit status, or 128 + the signal's number when a
signal killed it. Before the child runs: 2 usage, 125 tether could not
prepare the child (invalid manifest, no registry, a file that cannot be
rendered, exec.render_timeout), 126 the command cannot be executed, 127 the
command was not found. A first run that fails within exec.min_uptime (1s)
is reported as "exited at once" with the child's status.
`;

const options = {
  config: { type: 'string', short: 'c' },
  ...logOptions,
  help: { type: 'boolean', short: 'h' },
} as const;

/** Exit codes of `tether exec` before the child runs (the shell's 126/127, docker run's 125). */
export const EXEC_EXIT = { prepareFailed: 125, notExecutable: 126, notFound: 127 } as const;

export const execCommand: Command = {
  name: 'exec',
  summary: 'run an application as the agent\'s child: files and env from the registry, restart on change',
  help,
  options,
  async run(argv) {
    // Everything after the first `--` is the child's, options included.
    const dash = argv.indexOf('--');
    const own = dash === -1 ? argv : argv.slice(0, dash);
    const command = dash === -1 ? [] : argv.slice(dash + 1);
    const { values, positionals: pos } = parse('exec', own, options);
    if (values.help) return (out(help), 0);
    positionals('exec', pos, []);
    if (values.config === undefined) throw new UsageError('--config PATH is required', 'exec');
    const logging = logSettings('exec', values);
    const [{ runExec }, { openLogger }] = await Promise.all([import('../../exec/run.js'), import('../../observability/logger.js')]);
    const logger = await openLogger(logging);
    try {
      return await runExec({ configPath: values.config, argv: command, logger });
    } catch (err) {
      return reportExecFailure(err);
    }
  },
};

/** One clear message on stderr and the documented exit code for a child that could not be run. */
export function reportExecFailure(err: unknown): number {
  if (!(err instanceof TetherError)) throw err;
  if (err.code === 'exec.no_command') throw new UsageError(err.message, 'exec');
  const line = (msg: string): void => void process.stderr.write(`error: ${msg}\n`);
  switch (err.code) {
    case 'exec.not_found':
      return (line(err.message), EXEC_EXIT.notFound);
    case 'exec.not_executable':
      return (line(err.message), EXEC_EXIT.notExecutable);
    case 'exec.exited_at_once': {
      line(err.message);
      const cause = err.cause as { exitCode?: number } | undefined;
      return cause?.exitCode ?? 1;
    }
    case 'manifest.invalid':
      process.stderr.write(`${err.message}\n`);
      return (line('the manifest is invalid; the command was not started'), EXEC_EXIT.prepareFailed);
    default:
      return (line(err.message.replace(/[\r\n]+/g, ' ')), EXEC_EXIT.prepareFailed);
  }
}
