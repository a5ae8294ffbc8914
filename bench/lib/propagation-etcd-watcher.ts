/**
 * The etcd side of the propagation bench: the least a watcher must do to put
 * an etcd value into a file, run as its own process (as an agent would be).
 *
 *   node --import tsx propagation-etcd-watcher.ts ETCD_URL KEY OUT_PATH
 *
 * One watch on KEY through etcd's v3 JSON gateway (`POST /v3/watch`, a
 * stream of newline-delimited JSON messages) over undici; each PUT event's
 * value is written to OUT_PATH the way tether's agent writes a file
 * (src/materialize/write.ts): stage a temp file next to it, fsync, rename
 * over it, fsync the directory. Without the fsyncs the two would not be doing
 * the same work. Writes happen one at a time, in event order.
 *
 * Prints `watching` once etcd confirmed the watch (the parent waits for it).
 * Exits 1 when the stream fails or ends; SIGTERM ends it.
 */
import { open, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Client } from 'undici';

interface WatchMessage {
  result?: { created?: boolean; canceled?: boolean; events?: { type?: string; kv?: { value?: string } }[] };
  error?: unknown;
}

const [url, key, out] = process.argv.slice(2);
if (url === undefined || key === undefined || out === undefined) {
  process.stderr.write('usage: propagation-etcd-watcher ETCD_URL KEY OUT_PATH\n');
  process.exit(2);
}
const staged = join(dirname(out), `.${basename(out)}.watcher`);

async function writeAtomically(bytes: Buffer): Promise<void> {
  const file = await open(staged, 'w', 0o644);
  try {
    await file.writeFile(bytes);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(staged, out as string);
  const dir = await open(dirname(out as string), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Newline-delimited JSON from the gateway's streamed reply. */
async function* jsonLines(body: AsyncIterable<Buffer>): AsyncGenerator<WatchMessage, void> {
  let buf = '';
  for await (const chunk of body) {
    buf += chunk.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line !== '') yield JSON.parse(line) as WatchMessage;
    }
  }
}

async function main(): Promise<void> {
  const client = new Client(url as string);
  const res = await client.request({
    path: '/v3/watch',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ create_request: { key: Buffer.from(key as string).toString('base64') } }),
  });
  if (res.statusCode !== 200) throw new Error(`POST /v3/watch: HTTP ${res.statusCode}: ${await res.body.text()}`);
  for await (const msg of jsonLines(res.body)) {
    if (msg.error !== undefined || msg.result?.canceled === true) throw new Error(`watch failed: ${JSON.stringify(msg)}`);
    if (msg.result?.created === true) process.stdout.write('watching\n');
    // The gateway leaves out enum defaults: an event without `type` is a PUT.
    for (const ev of msg.result?.events ?? []) {
      if ((ev.type ?? 'PUT') === 'PUT') await writeAtomically(Buffer.from(ev.kv?.value ?? '', 'base64'));
    }
  }
  throw new Error('watch stream ended');
}

process.once('SIGTERM', () => process.exit(0));
main().catch((err: unknown) => {
  process.stderr.write(`etcd watcher: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
