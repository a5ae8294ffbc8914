import type { IncomingHttpHeaders } from 'node:http';
import { queueFault } from '../../queues/faults.js';
import type { Project } from '../../queues/types.js';

/**
 * The request-header rules of spec 2.1: Accept (406), X-Project-Id (400) and
 * Client-ID (400), each throwing the QueueFault the wire answers with.
 */

const QUEUE_NAME_RE = /^[a-zA-Z0-9_-]+$/;

/**
 * Throws notAcceptable unless `accept` admits `application/json` (or, when
 * `jsonHome`, `application/json-home`): `*\/*`, `application/*` or the exact
 * type, with a q-value above 0. A missing or empty header means `*\/*`.
 */
export function checkAccept(accept: string | undefined, jsonHome = false): void {
  // The common cases first: no parsing for what almost every client sends.
  if (accept === undefined || accept === 'application/json' || accept === '*/*') return;
  if (accept.trim() === '' || acceptsJson(accept, jsonHome)) return;
  throw queueFault('notAcceptable', 'All responses are application/json; the Accept header does not allow it.');
}

function acceptsJson(accept: string, jsonHome: boolean): boolean {
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';');
    const t = type.trim().toLowerCase();
    const match = t === '*/*' || t === 'application/*' || t === 'application/json' || (jsonHome && t === 'application/json-home');
    if (match && qualityOf(params) > 0) return true;
  }
  return false;
}

function qualityOf(params: readonly string[]): number {
  for (const p of params) {
    const [name = '', value = ''] = p.split('=');
    if (name.trim().toLowerCase() === 'q') {
      const q = Number(value.trim());
      return Number.isFinite(q) ? q : 1;
    }
  }
  return 1;
}

/**
 * The project of a request: the path form's id when present (spec A7), else
 * `X-Project-Id`; null (global namespace) when neither. An empty header
 * throws emptyProject (step 3, every route).
 */
export function projectOf(headers: IncomingHttpHeaders, pathProject: string | undefined): Project {
  const header = headers['x-project-id'];
  if (header === '') throw queueFault('emptyProject', 'X-Project-Id cannot be an empty string. Specify the right header X-Project-Id and retry.');
  if (pathProject !== undefined) return pathProject;
  return typeof header === 'string' ? header : null;
}

/** Step 4 on routes with `{queue_name}`: the project's length and the name's pattern, else invalidQueue. */
export function checkQueueIdentity(project: Project, queue: string, maxProject: number, maxName: number): void {
  if (project !== null && project.length > maxProject) {
    throw queueFault('invalidQueue', `Project ids may not be more than ${maxProject} characters long.`);
  }
  if (queue.length > maxName) throw queueFault('invalidQueue', `Queue names may not be more than ${maxName} characters long.`);
  if (!QUEUE_NAME_RE.test(queue)) {
    throw queueFault('invalidQueue', 'Queue names may only contain ASCII letters, digits, underscores, and dashes.');
  }
}

/**
 * A Client-ID as Python's `uuid.UUID` reads it (hyphens optional, `{}` or
 * `urn:uuid:` around, any case) in canonical lower-case hyphenated form.
 * Throws missingHeader when absent or empty, invalidApiCall when not a UUID.
 */
export function clientIdOf(header: string | string[] | undefined): string {
  if (header === undefined || header === '') throw queueFault('missingHeader', 'Missing "Client-ID" header.');
  const text = Array.isArray(header) ? header.join(',') : header;
  const hex = text.replace(/urn:|uuid:/g, '').replace(/^[{}]+|[{}]+$/g, '').replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw queueFault('invalidApiCall', 'Malformed hexadecimal UUID in the Client-ID header.');
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
