import { request, type IncomingHttpHeaders } from 'node:http';

/** A response read to the end, with the exact bytes the server sent. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON; throws when it is not JSON. */
  json(): unknown;
}

export interface RawRequest {
  method: string;
  /** Path and query, sent as is (no normalisation, no re-encoding). */
  path: string;
  headers?: Record<string, string>;
  /** Sent with an explicit Content-Length; no Content-Type is added. */
  body?: string | Buffer;
}

/**
 * One HTTP/1.1 request on a fresh connection (no agent, no keep-alive pool),
 * so tests see the server's bytes and headers unchanged. Rejects on a
 * transport error before any response arrived; a server that answers and
 * then closes while the body is still being written (413) still resolves.
 */
export function rawRequest(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(req.body));
    const r = request(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: () => JSON.parse(text) as unknown,
          });
        });
      },
    );
    // EPIPE/ECONNRESET after the response has started are expected for early replies (413).
    r.on('error', reject);
    if (req.body !== undefined) r.end(req.body);
    else r.end();
  });
}

/** JSON request helper: sets `Content-Type: application/json` and serialises `body`. */
export function rawJson(baseUrl: string, method: string, path: string, body?: unknown): Promise<RawResponse> {
  return rawRequest(baseUrl, {
    method,
    path,
    headers: { 'Content-Type': 'application/json', 'X-Auth-Token': 'conformance-token' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}
