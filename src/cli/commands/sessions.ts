import type { Session } from '../../registry/types.js';
import { clientOptions, groupCommand, kv, out, outJson, parse, positionals, time, withClient, type Command } from '../command.js';
import { flagMetadata, seconds } from '../service-body.js';
import { formatTable } from '../table.js';

const help = `Usage: tether sessions <list|create|get|heartbeat|delete> [options]

  tether sessions list                    every live session (all pages)
  tether sessions create [--heartbeat-timeout 30s] [--meta K=V]...
                                          create a session; prints "ID TOKEN"
  tether sessions get ID                  one session
  tether sessions heartbeat ID TOKEN      heartbeat once with TOKEN; prints the next token
  tether sessions delete ID               delete a session and the services bound to it

Register a service in a session with 'tether services register --session ID'.

Options:
  --url BASE     tenant URL (env TETHER_URL, default http://127.0.0.1:8470/v1.0/default)
  --token TOKEN  X-Auth-Token (env TETHER_TOKEN)
  --cacert FILE, --cert FILE, --key FILE, --server-name NAME
                 TLS to an https:// server (env TETHER_CACERT, TETHER_CERT, TETHER_KEY, TETHER_SERVER_NAME)
  --json         print JSON instead of a table (create: {id, token})
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

const createOptions = { ...clientOptions, 'heartbeat-timeout': { type: 'string' }, meta: { type: 'string', multiple: true } } as const;

async function create(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('sessions', argv, createOptions);
  if (values.help) return (out(help), 0);
  positionals('sessions', pos, []);
  const timeout = values['heartbeat-timeout'] === undefined ? 30 : seconds(values['heartbeat-timeout']);
  const reply = await withClient(values, (c) => c.sessions.create({ heartbeat_timeout: timeout, metadata: flagMetadata(values) }));
  if (values.json) outJson(reply);
  else out(`${reply.id} ${reply.token}\n`);
  return 0;
}

async function get(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('sessions', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [id] = positionals('sessions', pos, ['ID']) as [string];
  const session = await withClient(values, (c) => c.sessions.get(id));
  if (values.json) outJson(session);
  else out(sessionDetail(session));
  return 0;
}

async function heartbeat(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('sessions', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [id, token] = positionals('sessions', pos, ['ID', 'TOKEN']) as [string, string];
  const reply = await withClient(values, (c) => c.sessions.heartbeat(id, token));
  if (values.json) outJson(reply);
  else out(`${reply.token}\n`);
  return 0;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('sessions', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [id] = positionals('sessions', pos, ['ID']) as [string];
  await withClient(values, (c) => c.sessions.delete(id));
  return 0;
}

function sessionDetail(s: Session): string {
  return formatTable(null, [
    ['id', s.id],
    ['metadata', kv(s.metadata)],
    ['heartbeat_timeout', String(s.heartbeat_timeout)],
    ['last_seen', time(s.last_seen)],
  ]);
}

export const sessionsCommand: Command = groupCommand('sessions', 'list, create, show, heartbeat and delete sessions', help, {
  list: { options: clientOptions, run: list },
  create: { options: createOptions, run: create },
  get: { options: clientOptions, run: get },
  heartbeat: { options: clientOptions, run: heartbeat },
  delete: { options: clientOptions, run: remove },
});
