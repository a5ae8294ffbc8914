import { clientOptions, out, outJson, parse, positionals, withClient, type Command } from '../command.js';
import { formatTable } from '../table.js';

const help = `Usage: tether limits [options]

Shows the tenant's resource and rate limits.

Options:
  --url BASE     tenant URL (env TETHER_URL, default http://127.0.0.1:8470/v1.0/default)
  --token TOKEN  X-Auth-Token (env TETHER_TOKEN)
  --cacert FILE, --cert FILE, --key FILE, --server-name NAME
                 TLS to an https:// server (env TETHER_CACERT, TETHER_CERT, TETHER_KEY, TETHER_SERVER_NAME)
  --json         print JSON instead of tables
`;

export const limitsCommand: Command = {
  name: 'limits',
  summary: "show the tenant's resource and rate limits",
  help,
  options: clientOptions,
  async run(argv) {
    const { values, positionals: pos } = parse('limits', argv, clientOptions);
    if (values.help) return (out(help), 0);
    positionals('limits', pos, []);
    const limits = await withClient(values, (c) => c.limits());
    if (values.json) return (outJson(limits), 0);
    out(formatTable(['RESOURCE', 'LIMIT'], Object.entries(limits.resource).map(([k, v]) => [k, String(v)])));
    const rate = Object.entries(limits.rate);
    if (rate.length > 0) {
      out('\n');
      out(formatTable(['RATE PATH', 'LIMIT', 'USED', 'WINDOW'], rate.map(([p, r]) => [p, String(r.limit), String(r.used), r.window])));
    }
    return 0;
  },
};
