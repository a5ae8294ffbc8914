import { Agent, request, type IncomingHttpHeaders } from 'node:http';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** One request over a kept-alive connection; `body` is sent as it is (a string) or as JSON. */
export function call(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const h: Record<string, string> = { 'content-type': 'application/json', ...headers };
  if (text !== undefined) h['content-length'] = String(Buffer.byteLength(text));
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: h, agent }, (res) => {
      let out = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (out += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: out }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  });
}

export function closeAgent(): void {
  agent.destroy();
}
