import { HttpEventRoutes } from '../../routes/http-routes.js';
import type { EventRouteStatus } from '../../routes/types.js';
import { clientTlsFrom, type ClientTlsValues } from '../tls-flags.js';
import { clientOptions, DEFAULT_URL, out, outJson, parse, positionals, groupCommand, type Command } from '../command.js';
import { formatTable } from '../table.js';

const help = `Usage: tether routes <list|get|set|delete> [options]

Event routes (Tether extension): the server delivers the tenant's registry
events (or those matching a filter) into a queue of the project of the same
id, each once, in feed order, starting after the last event when first set.

  tether routes list                  every route with its progress
  tether routes get ID                one route
  tether routes set ID QUEUE [--type T]... [--tag T]... [--key-prefix P]... [--ttl SECONDS]
                                      create, or replace the filter of (progress kept)
  tether routes delete ID             stop delivering (messages already in the queue stay)

  --type T          service.join, service.remove, service.timeout, configuration_value.update,
                    configuration_value.remove (repeatable; default every type)
  --tag T           service events of services with this tag (repeatable)
  --key-prefix P    configuration events of keys starting with P (repeatable)
  --ttl SECONDS     lifetime of each message in the queue (default 86400)

Options:
  --url BASE     tenant URL (env TETHER_URL, default ${DEFAULT_URL})
  --token TOKEN  X-Auth-Token (env TETHER_TOKEN)
  --cacert FILE, --cert FILE, --key FILE, --server-name NAME
                 TLS to an https:// server (env TETHER_CACERT, TETHER_CERT, TETHER_KEY, TETHER_SERVER_NAME)
  --json         print JSON instead of a table
`;

const setOptions = {
  ...clientOptions,
  type: { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  'key-prefix': { type: 'string', multiple: true },
  ttl: { type: 'string' },
} as const;

async function withRoutes<T>(values: { url?: string | undefined; token?: string | undefined } & ClientTlsValues, fn: (r: HttpEventRoutes) => Promise<T>): Promise<T> {
  const token = values.token ?? process.env.TETHER_TOKEN;
  const tls = clientTlsFrom(values, process.env, 'routes');
  const routes = new HttpEventRoutes({ url: values.url ?? process.env.TETHER_URL ?? DEFAULT_URL, token: token === '' ? undefined : token, tls });
  try {
    return await fn(routes);
  } finally {
    await routes.close();
  }
}

function table(routes: EventRouteStatus[]): string {
  const list = (xs: string[]): string => (xs.length === 0 ? '*' : xs.join(','));
  return formatTable(
    ['ID', 'QUEUE', 'TYPES', 'TAGS', 'KEY PREFIXES', 'TTL', 'DELIVERED', 'LAST EVENT'],
    routes.map((r) => [r.id, r.queue, list(r.types), list(r.service_tags), list(r.key_prefixes), String(r.ttl), String(r.delivered), r.last_event ?? '-']),
  );
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('routes', argv, clientOptions);
  if (values.help) return (out(help), 0);
  positionals('routes', pos, []);
  const routes = await withRoutes(values, (r) => r.list());
  if (values.json) outJson(routes);
  else out(table(routes));
  return 0;
}

async function get(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('routes', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [id] = positionals('routes', pos, ['ID']) as [string];
  const route = await withRoutes(values, (r) => r.get(id));
  if (values.json) outJson(route);
  else out(table([route]));
  return 0;
}

async function set(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('routes', argv, setOptions);
  if (values.help) return (out(help), 0);
  const [id, queue] = positionals('routes', pos, ['ID', 'QUEUE']) as [string, string];
  // The server validates (ttl included, as a number), so the CLI and the API give the same faults.
  const body = {
    queue,
    ...(values.type ? { types: values.type } : {}),
    ...(values.tag ? { service_tags: values.tag } : {}),
    ...(values['key-prefix'] ? { key_prefixes: values['key-prefix'] } : {}),
    ...(values.ttl !== undefined ? { ttl: /^\d+$/.test(values.ttl) ? Number(values.ttl) : values.ttl } : {}),
  };
  const created = await withRoutes(values, (r) => r.set(id, body));
  if (values.json) outJson({ id, created });
  else out(created ? 'created\n' : 'updated\n');
  return 0;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('routes', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [id] = positionals('routes', pos, ['ID']) as [string];
  await withRoutes(values, (r) => r.delete(id));
  return 0;
}

export const routesCommand: Command = groupCommand('routes', 'deliver registry events into queues (list, get, set, delete event routes)', help, {
  list: { options: clientOptions, run: list },
  get: { options: clientOptions, run: get },
  set: { options: setOptions, run: set },
  delete: { options: clientOptions, run: remove },
});
