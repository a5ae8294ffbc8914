import type { IncomingHttpHeaders } from 'node:http';
import { queueFault } from '../../queues/faults.js';
import { DEFAULT_QUEUE_LIMITS, type Project, type QueueLimits } from '../../queues/types.js';
import { checkProject, checkQueueName, parseClientId } from '../../queues/validation.js';

/**
 * The request-header rules of spec 2.1: Accept (406), X-Project-Id (400) and
 * Client-ID (400), each throwing the QueueFault the wire answers with.
 */

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
 * throws emptyProject (step 3, every route), as the domain does.
 */
export function projectOf(headers: IncomingHttpHeaders, pathProject: string | undefined): Project {
  const header = headers['x-project-id'];
  if (header === '') checkProject('', DEFAULT_QUEUE_LIMITS, false);
  const project = pathProject ?? (typeof header === 'string' ? header : null);
  // Projects become key prefixes and directory-like names: `.` and `..` would alias others (issue 19 item 5).
  if (project === '.' || project === '..') throw queueFault('invalidQueue', "The project ids '.' and '..' are reserved.");
  return project;
}

/** Step 4 on routes with `{queue_name}`: the domain's checks of the project's length and the name, else invalidQueue. */
export function checkQueueIdentity(project: Project, queue: string, limits: Readonly<QueueLimits>): void {
  checkProject(project, limits, true);
  checkQueueName(queue, limits);
}

/** A Client-ID in canonical form (the domain's parseClientId): missingHeader when absent or empty, invalidApiCall when not a UUID. */
export const clientIdOf: (header: string | string[] | undefined) => string = parseClientId;
