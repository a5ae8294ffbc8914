import type { Agent } from '../../agent/agent.js';
import { TetherError } from '../../lib/errors.js';
import { firstSignal } from '../../lifecycle/signals.js';
import { out, parse, positionals, UsageError, type Command } from '../args.js';
import { LOG_HELP, logOptions, logSettings } from '../log-flags.js';

const help = `Usage: tether agent --config PATH [--log-level LEVEL] [--log-format json|pretty]

Runs the agent: probes the manifest's services, registers the healthy ones
with upstream.url and heartbeats them, and serves the local API
(agent.listen, default 127.0.0.1:8471).

PATH is a manifest file or a conf.d directory of *.yaml files. Changes to it
are applied live (also on SIGHUP or POST /v1/reload); an invalid change is
rejected and the running configuration stays. A reload also re-reads the
upstream.tls files (a renewed client certificate).

Environment: TETHER_AGENT_TOKEN is the local API's token (else the file
agent.api_token_file): required when agent.listen is not a loopback address;
when set, every endpoint but /healthz, /readyz and /metrics needs it, as
'Authorization: Bearer TOKEN' or 'X-Tether-Token: TOKEN'.

Options:
${LOG_HELP}

SIGTERM or SIGINT deregisters every service, then exits 0 (within 5 s); a
second signal exits at once.
`;

const options = {
  config: { type: 'string', short: 'c' },
  ...logOptions,
  help: { type: 'boolean', short: 'h' },
} as const;

export const agentCommand: Command = {
  name: 'agent',
  summary: 'run the agent: probes, registration, heartbeats, local API',
  help,
  options,
  async run(argv) {
    const { values, positionals: pos } = parse('agent', argv, options);
    if (values.help) return (out(help), 0);
    positionals('agent', pos, []);
    if (values.config === undefined) throw new UsageError('--config PATH is required', 'agent');
    const logging = logSettings('agent', values);
    const [{ Agent }, { openLogger }, { closeHttpProbeAgents }] = await Promise.all([
      import('../../agent/agent.js'),
      import('../../observability/logger.js'),
      import('../../probes/http.js'),
    ]);
    const logger = await openLogger(logging);
    let agent: Agent | undefined;
    // Listening before the agent starts: a SIGTERM right after "agent started" must not kill it before it deregisters.
    const signal = firstSignal(() => void agent?.reload());
    try {
      agent = await Agent.start({ configPath: values.config, logger });
    } catch (err) {
      return reportStartFailure(err);
    }
    const sig = await signal;
    logger.info({ signal: sig }, 'shutting down: deregistering services');
    await agent.close();
    // Closes the HTTP probes' kept-alive connections now rather than leaving them to the probed servers.
    await closeHttpProbeAgents();
    return 0;
  },
};

/** An invalid manifest prints every issue (one per line) and exits 1; anything else goes to main. */
export function reportStartFailure(err: unknown): number {
  if (err instanceof TetherError && err.code === 'manifest.invalid') {
    process.stderr.write(`${err.message}\nerror: the manifest is invalid; nothing was started\n`);
    return 1;
  }
  throw err;
}
