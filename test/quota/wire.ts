import { randomUUID } from 'node:crypto';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';

const CLIENT_ID = randomUUID();

/** One registry v1.0 call with a JSON body. */
export function reg(url: string, method: string, path: string, body?: unknown): Promise<RawResponse> {
  return rawRequest(url, {
    method,
    path: `/v1.0${path}`,
    headers: { 'Content-Type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** One queues v1 call of `project` with a JSON body. */
export function que(url: string, project: string, method: string, path: string, body?: unknown): Promise<RawResponse> {
  return rawRequest(url, {
    method,
    path: `/v1${path}`,
    headers: { 'Content-Type': 'application/json', 'Client-ID': CLIENT_ID, 'X-Project-Id': project },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** Posts one message of `bytes` characters into `queue` of `project`. */
export function postMessage(url: string, project: string, queue: string, bytes: number): Promise<RawResponse> {
  return que(url, project, 'POST', `/queues/${queue}/messages`, [{ ttl: 300, body: 'x'.repeat(bytes) }]);
}

/** The value of one metric series (`name{labels}`) in Prometheus text, or undefined. */
export async function metric(url: string, series: string): Promise<number | undefined> {
  const res = await rawRequest(url, { method: 'GET', path: '/metrics' });
  const line = res.text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
