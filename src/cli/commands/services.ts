import type { Service } from '../../registry/types.js';
import { clientOptions, groupCommand, kv, out, outJson, parse, positionals, time, withClient, type Command } from '../command.js';
import { formatTable } from '../table.js';
import { servicesWriteHelp, servicesWriteSubs } from './services-write.js';

const help = `Usage: tether services <list|get|rm|register|update|heartbeat> [options]

  tether services list [--tag TAG]   every live service (all pages)
  tether services get ID             one service
  tether services rm ID              delete a service (a service.remove event)
${servicesWriteHelp}
Options:
  --url BASE     tenant URL (env TETHER_URL, default http://127.0.0.1:8470/v1.0/default)
  --token TOKEN  X-Auth-Token (env TETHER_TOKEN)
  --cacert FILE, --cert FILE, --key FILE, --server-name NAME
                 TLS to an https:// server (env TETHER_CACERT, TETHER_CERT, TETHER_KEY, TETHER_SERVER_NAME)
  --json         print JSON instead of a table (register: {id, token}; update: the service)
`;

const listOptions = { ...clientOptions, tag: { type: 'string' } } as const;

async function list(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('services', argv, listOptions);
  if (values.help) return (out(help), 0);
  positionals('services', pos, []);
  const services = await withClient(values, (c) => c.services.listAll({ tag: values.tag }));
  if (values.json) outJson(services);
  else out(servicesTable(services));
  return 0;
}

async function get(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('services', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [id] = positionals('services', pos, ['ID']) as [string];
  const service = await withClient(values, (c) => c.services.get(id));
  if (values.json) outJson(service);
  else out(serviceDetail(service));
  return 0;
}

async function rm(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('services', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [id] = positionals('services', pos, ['ID']) as [string];
  await withClient(values, (c) => c.services.delete(id));
  return 0;
}

export function servicesTable(services: Service[]): string {
  const withSession = services.some((s) => s.session_id !== undefined);
  const header = ['ID', 'TIMEOUT', 'LAST SEEN', ...(withSession ? ['SESSION'] : []), 'TAGS', 'METADATA'];
  const rows = services.map((s) => [
    s.id,
    s.heartbeat_timeout === null || s.heartbeat_timeout === undefined ? '-' : `${s.heartbeat_timeout}s`,
    time(s.last_seen),
    ...(withSession ? [s.session_id ?? '-'] : []),
    s.tags.join(','),
    kv(s.metadata),
  ]);
  return formatTable(header, rows);
}

function serviceDetail(s: Service): string {
  return formatTable(null, [
    ['id', s.id],
    ['tags', s.tags.join(',')],
    ['metadata', kv(s.metadata)],
    ['heartbeat_timeout', String(s.heartbeat_timeout)],
    ['last_seen', time(s.last_seen)],
    ...(s.session_id !== undefined ? [['session_id', s.session_id]] : []),
  ]);
}

export const servicesCommand: Command = groupCommand('services', 'list, show, register, update, heartbeat and remove services', help, {
  list: { options: listOptions, run: list },
  get: { options: clientOptions, run: get },
  rm: { options: clientOptions, run: rm },
  ...servicesWriteSubs(help),
});
