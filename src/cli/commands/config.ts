import { readFileSync } from 'node:fs';
import { clientOptions, groupCommand, out, outJson, parse, positionals, withClient, type Command } from '../command.js';
import { formatTable } from '../table.js';

const help = `Usage: tether config <list|get|set|rm> [options]

  tether config list [NAMESPACE/]   every value, or those under a namespace (all pages)
  tether config get KEY             print the raw value
  tether config set KEY VALUE       set a value (VALUE "-" reads it from stdin)
  tether config rm KEY              delete a value

Keys may be namespaced: /production/cassandra/listen_ip. A VALUE that starts
with "-" goes after "--": tether config set offset -- -5

Options:
  --url BASE     tenant URL (env TETHER_URL, default http://127.0.0.1:8470/v1.0/default)
  --token TOKEN  X-Auth-Token (env TETHER_TOKEN)
  --cacert FILE, --cert FILE, --key FILE, --server-name NAME
                 TLS to an https:// server (env TETHER_CACERT, TETHER_CERT, TETHER_KEY, TETHER_SERVER_NAME)
  --json         print JSON instead of a table (get: the {id, value} object)
`;

async function list(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('config', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [namespace] = positionals('config', pos, ['NAMESPACE/'], 1);
  const items = await withClient(values, (c) => c.configuration.listAll({ namespace }));
  if (values.json) outJson(items);
  else out(formatTable(['KEY', 'VALUE'], items.map((v) => [v.id, v.value])));
  return 0;
}

async function get(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('config', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [key] = positionals('config', pos, ['KEY']) as [string];
  const item = await withClient(values, (c) => c.configuration.get(key));
  if (values.json) outJson(item);
  else out(`${item.value}\n`);
  return 0;
}

async function set(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('config', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [key, raw] = positionals('config', pos, ['KEY', 'VALUE']) as [string, string];
  // Stdin is taken as is, minus one trailing newline (what `echo` adds).
  const value = raw === '-' ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : raw;
  await withClient(values, (c) => c.configuration.set(key, value));
  return 0;
}

async function rm(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('config', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [key] = positionals('config', pos, ['KEY']) as [string];
  await withClient(values, (c) => c.configuration.delete(key));
  return 0;
}

export const configCommand: Command = groupCommand('config', 'list, read, set and remove configuration values', help, {
  list: { options: clientOptions, run: list },
  get: { options: clientOptions, run: get },
  set: { options: clientOptions, run: set },
  rm: { options: clientOptions, run: rm },
});
