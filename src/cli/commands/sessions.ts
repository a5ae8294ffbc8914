import { clientOptions, kv, out, outJson, parse, positionals, runSub, time, withClient, type Command } from '../command.js';
import { formatTable } from '../table.js';

const help = `Usage: tether sessions list [options]

  tether sessions list   every live session (all pages)

Options:
  --url BASE     tenant URL (env TETHER_URL, default http://127.0.0.1:8470/v1.0/default)
  --token TOKEN  X-Auth-Token (env TETHER_TOKEN)
  --json         print JSON instead of a table
`;

async function list(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('sessions', argv, clientOptions);
  if (values.help) return (out(help), 0);
  positionals('sessions', pos, []);
  const sessions = await withClient(values, (c) => c.sessions.listAll());
  if (values.json) return (outJson(sessions), 0);
  const rows = sessions.map((s) => [s.id, `${s.heartbeat_timeout}s`, time(s.last_seen), kv(s.metadata)]);
  out(formatTable(['ID', 'TIMEOUT', 'LAST SEEN', 'METADATA'], rows));
  return 0;
}

export const sessionsCommand: Command = {
  name: 'sessions',
  summary: 'list sessions',
  help,
  run: (argv) => runSub('sessions', argv, { list }, help),
};
