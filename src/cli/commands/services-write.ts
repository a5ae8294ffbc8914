import { clientOptions, out, outJson, parse, positionals, withClient, type Sub } from '../command.js';
import { registerBody, serviceFlags, updatePatch, wantsMetadata } from '../service-body.js';

/**
 * The write side of `tether services`: register, update, heartbeat. The
 * bodies come from service-body.ts; each handler is one registry call (update
 * reads the service first when it merges metadata: the API's PUT replaces the
 * metadata whole, so that merge is a read-modify-write, and says so in --help).
 */

export const servicesWriteHelp = `  tether services register --id ID [--name N] [--host H] [--port P] [--version V]
        [--tag T]... [--meta K=V]... [--heartbeat-timeout 30s] [--session SID] [--file F]
                                     create a service; prints its first heartbeat token
  tether services update ID [--tag T]... [--clear-tags] [--meta K=V]... [--name N]
        [--host H] [--port P] [--version V] [--heartbeat-timeout D] [--file F]
                                     change a service (metadata is merged; --meta K= removes K;
                                     --tag replaces every tag). Only the fields given are sent;
                                     metadata flags read the service once, then write its whole
                                     metadata (the API replaces it whole): concurrent updates of
                                     one service's metadata race, the last write wins
  tether services heartbeat ID TOKEN heartbeat once with TOKEN; prints the next token

  --name, --host, --port and --version are metadata keys of the same names.
  --id defaults to --name. --file F (JSON or YAML, "-" for stdin) holds a body
  as the API takes it ({id, heartbeat_timeout, tags, metadata, session_id});
  flags override its fields. --heartbeat-timeout is seconds or a duration
  (default 30s; none with --session: the session's heartbeat keeps it).
`;

const registerOptions = { ...clientOptions, ...serviceFlags } as const;

async function register(argv: string[], help: string): Promise<number> {
  const { values, positionals: pos } = parse('services', argv, registerOptions);
  if (values.help) return (out(help), 0);
  positionals('services', pos, []);
  const body = registerBody(values);
  const reply = await withClient(values, (c) => c.services.create(body));
  if (values.json) outJson({ id: body.id, token: reply.token });
  // The token alone, so that `TOKEN=$(tether services register ...)` works; a session-bound service has none.
  else if (reply.token !== null) out(`${reply.token}\n`);
  return 0;
}

const { id: _id, session: _session, ...updateFlags } = serviceFlags;
const updateOptions = { ...clientOptions, ...updateFlags, 'clear-tags': { type: 'boolean' } } as const;

async function update(argv: string[], help: string): Promise<number> {
  const { values, positionals: pos } = parse('services', argv, updateOptions);
  if (values.help) return (out(help), 0);
  const [id] = positionals('services', pos, ['ID']) as [string];
  await withClient(values, async (c) => {
    const current = wantsMetadata(values) ? (await c.services.get(id)).metadata : {};
    await c.services.update(id, updatePatch(values, current));
    if (values.json) outJson(await c.services.get(id));
  });
  return 0;
}

async function heartbeat(argv: string[], help: string): Promise<number> {
  const { values, positionals: pos } = parse('services', argv, clientOptions);
  if (values.help) return (out(help), 0);
  const [id, token] = positionals('services', pos, ['ID', 'TOKEN']) as [string, string];
  const reply = await withClient(values, (c) => c.services.heartbeat(id, token));
  if (values.json) outJson(reply);
  else out(`${reply.token}\n`);
  return 0;
}

/** The three write sub-commands, each printing `help` for --help. */
export function servicesWriteSubs(help: string): Record<string, Sub> {
  return {
    register: { options: registerOptions, run: (argv) => register(argv, help) },
    update: { options: updateOptions, run: (argv) => update(argv, help) },
    heartbeat: { options: clientOptions, run: (argv) => heartbeat(argv, help) },
  };
}
