import { TetherError } from '../../lib/errors.js';
import { out, parse, positionals, UsageError, type Command } from '../args.js';
import { runSub } from '../command.js';

const DEFAULT_AGENT = 'http://127.0.0.1:8471';

const help = `Usage: tether maint enable|disable [--service ID] [--reason TEXT] [options]
       tether maint status [options]

Maintenance mode, through the agent's local API. enable takes every service of
the agent (or, with --service, one) out of discovery: deregistered, and not
registered again, across manifest reloads and agent restarts (kept in
state_dir/maintenance.json) until disable. Probes and files go on as usual.
Agent-wide and per-service maintenance are separate switches: disable without
--service ends the agent-wide one only.

Options:
  --service ID    one service (default: the whole agent)
  --reason TEXT   why (shown in /v1/status and the log)
  --agent URL     the agent's local API (env TETHER_AGENT, default ${DEFAULT_AGENT})
  --token TOKEN   the local API's token when it needs one (env TETHER_AGENT_TOKEN)
  --json          print the agent's reply as JSON
`;

const options = {
  service: { type: 'string' },
  reason: { type: 'string' },
  agent: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Entry {
  reason: string | null;
  since: number;
}
interface State {
  changed?: boolean;
  agent: Entry | null;
  services: Record<string, Entry>;
}

/** One call to the local API; a refusal becomes a TetherError with the agent's message. */
async function call(values: { agent?: string | undefined; token?: string | undefined }, method: string, path: string): Promise<State> {
  const base = (values.agent ?? process.env.TETHER_AGENT ?? DEFAULT_AGENT).replace(/\/+$/, '');
  const token = values.token ?? process.env.TETHER_AGENT_TOKEN;
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new TetherError('client.unreachable', `cannot reach the agent at ${base} (${cause})`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { error: text.trim() };
  }
  if (!res.ok) throw new TetherError('maint.refused', `the agent refused (${res.status}): ${(body as { error?: string }).error ?? text.trim()}`);
  return body as State;
}

function show(state: State): void {
  const since = (e: Entry) => `since ${new Date(e.since).toISOString()}${e.reason ? `: ${e.reason}` : ''}`;
  out(state.agent ? `agent: in maintenance ${since(state.agent)}\n` : 'agent: not in maintenance\n');
  for (const [id, e] of Object.entries(state.services)) out(`service ${id}: in maintenance ${since(e)}\n`);
}

function change(enable: boolean): (argv: string[]) => Promise<number> {
  const name = enable ? 'maint enable' : 'maint disable';
  return async (argv) => {
    const { values, positionals: pos } = parse(name, argv, options);
    if (values.help) return (out(help), 0);
    positionals(name, pos, []);
    if (!enable && values.reason !== undefined) throw new UsageError('--reason goes with enable', name);
    const query = new URLSearchParams({ enable: String(enable), ...(values.reason ? { reason: values.reason } : {}) });
    const path = values.service === undefined ? '/v1/maint' : `/v1/maint/${encodeURIComponent(values.service)}`;
    const state = await call(values, 'PUT', `${path}?${query}`);
    if (values.json) return (out(`${JSON.stringify(state, null, 2)}\n`), 0);
    const what = values.service === undefined ? 'agent' : `service ${values.service}`;
    out(`${what}: maintenance ${enable ? 'enabled' : 'disabled'}${state.changed === false ? ' (already so)' : ''}\n`);
    return 0;
  };
}

async function status(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('maint status', argv, options);
  if (values.help) return (out(help), 0);
  positionals('maint status', pos, []);
  const state = await call(values, 'GET', '/v1/maint');
  if (values.json) return (out(`${JSON.stringify(state, null, 2)}\n`), 0);
  show(state);
  return 0;
}

export const maintCommand: Command = {
  name: 'maint',
  summary: "maintenance mode: take the agent's services (or one) out of discovery",
  help,
  subs: { enable: options, disable: options, status: options },
  run: (argv) => runSub('maint', argv, { enable: change(true), disable: change(false), status }, help),
};
