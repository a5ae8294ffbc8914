import { TetherError } from '../lib/errors.js';

/** Fault kinds of spec section 2.7 with their HTTP status and exact title. */
export const QUEUE_FAULTS = {
  invalidApiCall: { status: 400, title: 'Invalid API call' },
  invalidBody: { status: 400, title: 'Invalid request body' },
  invalidQueue: { status: 400, title: 'Invalid queue identification' },
  emptyProject: { status: 400, title: 'Empty project header not allowed' },
  missingHeader: { status: 400, title: 'Missing header' },
  invalidQuery: { status: 400, title: 'Invalid query parameter' },
  missingQuery: { status: 400, title: 'Missing query parameter' },
  forbidden: { status: 403, title: 'Unable to delete' },
  /** The wire sends 404 with an empty body (spec A15). */
  notFound: { status: 404, title: 'Not found' },
  notAcceptable: { status: 406, title: 'Media type not acceptable' },
  /** The wire adds `Retry-After: 30`. */
  unavailable: { status: 503, title: 'Service temporarily unavailable' },
  /** Extension: the database is full (--max-db-bytes, etcd NOSPACE); writes refused, reads and deletes served. */
  insufficientStorage: { status: 507, title: 'Insufficient storage' },
} as const;

export type QueueFaultKind = keyof typeof QUEUE_FAULTS;

/** Seconds a 503 asks the client to wait (`Retry-After`). */
export const RETRY_AFTER_SECONDS = 30;

/**
 * A fault of the Cloud Queues v1 API. `code` is `queues.<kind>`; `status`, `title`
 * (spec 2.7 exactly) and `description` make the wire body. Raised identically by
 * QueueService and the HTTP client, so callers see the same errors either way.
 * Descriptions are for humans: never branch on them, never put secrets in them.
 */
export class QueueFault extends TetherError {
  readonly kind: QueueFaultKind;
  readonly status: number;
  readonly title: string;
  readonly description: string;

  constructor(kind: QueueFaultKind, description: string, options?: { cause?: unknown }) {
    super(`queues.${kind}`, `${QUEUE_FAULTS[kind].title}: ${description}`, options);
    this.name = 'QueueFault';
    this.kind = kind;
    this.status = QUEUE_FAULTS[kind].status;
    this.title = QUEUE_FAULTS[kind].title;
    this.description = description;
  }

  /** The wire body `{title, description}`; undefined for 404 (empty body in v1.0). */
  toBody(): { title: string; description: string } | undefined {
    if (this.kind === 'notFound') return undefined;
    return { title: this.title, description: this.description };
  }
}

export function isQueueFault(err: unknown, kind?: QueueFaultKind): err is QueueFault {
  return err instanceof QueueFault && (kind === undefined || err.kind === kind);
}

/** Builds a fault of `kind` (the status and title come from QUEUE_FAULTS). */
export function queueFault(kind: QueueFaultKind, description: string, cause?: unknown): QueueFault {
  return new QueueFault(kind, description, cause === undefined ? undefined : { cause });
}

/** The fault for a status the client got from a server (unknown statuses map to unavailable). */
export function faultForStatus(status: number, title: string | undefined, description: string): QueueFault {
  const byTitle = (Object.keys(QUEUE_FAULTS) as QueueFaultKind[]).find(
    (k) => QUEUE_FAULTS[k].status === status && QUEUE_FAULTS[k].title === title,
  );
  if (byTitle) return new QueueFault(byTitle, description);
  const byStatus = (Object.keys(QUEUE_FAULTS) as QueueFaultKind[]).find((k) => QUEUE_FAULTS[k].status === status);
  return new QueueFault(byStatus ?? 'unavailable', description);
}
