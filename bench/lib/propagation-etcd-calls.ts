/**
 * Requests etcd served, by gRPC method (Range, Txn, ...), from its own
 * `/metrics` (`grpc_server_handled_total`; the JSON gateway's requests are
 * counted there too, as it calls the gRPC server in-process). The
 * propagation bench prints them per change: how many etcd requests the
 * registry makes for one configuration change, a figure the machine's load
 * does not move.
 */
export async function etcdCalls(etcdUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${etcdUrl}/metrics`);
  const text = await res.text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^grpc_server_handled_total\{[^}]*grpc_method="(\w+)"[^}]*\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)) {
    const method = m[1] as string;
    out.set(method, (out.get(method) ?? 0) + Number(m[2]));
  }
  return out;
}

/** Calls per change of the methods that matter here (Range, Txn, Put), between two `etcdCalls` readings. */
export function perChange(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, changes: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const method of ['Range', 'Txn', 'Put']) out[method] = ((after.get(method) ?? 0) - (before.get(method) ?? 0)) / changes;
  return out;
}
