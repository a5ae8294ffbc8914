import type { AgentStatus } from '../../agent/status.js';
import type { FileStatus } from '../../materialize/file-renderer.js';
import { agentGet, agentOptions, DEFAULT_AGENT } from '../agent-api.js';
import { out, outJson, parse, positionals, time, type Command } from '../command.js';
import { formatTable } from '../table.js';

const help = `Usage: tether status [--agent URL] [--token TOKEN] [--json]

The agent's view, from its local API (/v1/status): readiness, the registry
connection, each service (health, registration, check, last error) and each
rendered file (ok, stale, held by its floor, failing). Exits 0 when the agent answered.

Options:
  --agent URL     the agent's local API (env TETHER_AGENT, default ${DEFAULT_AGENT})
  --token TOKEN   the local API's token when it needs one (env TETHER_AGENT_TOKEN)
  --json          print the /v1/status document as it is
`;

export const statusCommand: Command = {
  name: 'status',
  summary: "the agent's view: services, checks, registrations, files",
  help,
  options: agentOptions,
  async run(argv) {
    const { values, positionals: pos } = parse('status', argv, agentOptions);
    if (values.help) return (out(help), 0);
    positionals('status', pos, []);
    const status = (await agentGet(values, '/v1/status')) as AgentStatus;
    if (values.json) outJson(status);
    else out(formatStatus(status));
    return 0;
  },
};

/** The text form: a summary line or two, then a table of services and one of files. */
export function formatStatus(s: AgentStatus): string {
  const up = s.upstream;
  const lines = [
    `agent ${s.version}  ${s.ready ? 'ready' : 'NOT READY'}  since ${time(s.startedAt)}`,
    `registry ${up.url}  ${up.mode === 'session' ? `session ${up.session ?? '-'}` : 'per-service heartbeats'}${up.lastError ? `  ERROR: ${up.lastError.message}` : ''}`,
  ];
  if (s.maintenance?.agent) lines.push(`maintenance since ${time(s.maintenance.agent.since)}${s.maintenance.agent.reason ? `: ${s.maintenance.agent.reason}` : ''}`);
  if (s.manifest.issues.length > 0) lines.push(`manifest: the last change was refused (${s.manifest.issues.length} issue${s.manifest.issues.length === 1 ? '' : 's'})`);
  let text = `${lines.join('\n')}\n`;
  if (s.services.length > 0) {
    const rows = s.services.map((v) => [
      v.id,
      v.maintenance ? 'maintenance' : v.health,
      v.registered ? 'yes' : 'no',
      v.check ?? '-',
      v.lastError?.message ?? (v.lastProbe && !v.lastProbe.ok ? v.lastProbe.output : ''),
    ]);
    text += `\n${formatTable(['SERVICE', 'HEALTH', 'REGISTERED', 'CHECK', 'LAST ERROR'], rows)}`;
  }
  if (s.files.length > 0) {
    text += `\n${formatTable(['FILE', 'STATE', 'LAST RENDER', 'LAST ERROR'], s.files.map((f) => [f.path, fileState(f), time(f.lastRender), f.lastError?.message ?? '']))}`;
  }
  return text;
}

function fileState(f: FileStatus): string {
  if (f.stale) return 'stale';
  // A services list below its floor: the file shows the last good list (see Service-list floors).
  if (f.floor?.state === 'held') return 'held (floor)';
  if (f.ok === null) return 'pending';
  return f.ok ? 'ok' : 'error';
}
