import { TetherError } from '../lib/errors.js';

/** Fault types of spec section 3.2, with their HTTP status. */
export const FAULT_STATUS = {
  badRequest: 400,
  serviceWithThisIdExists: 400,
  invalidLimit: 400,
  badRequestHttpsOnly: 400,
  limitReached: 400,
  rateLimitReached: 400,
  unauthorizedError: 401,
  forbiddenError: 403,
  notFoundError: 404,
  requestTooLargeError: 413,
  internalError: 500,
  notImplementedError: 501,
  systemFailureError: 503,
  /** Extension: the database is full (--max-db-bytes, etcd NOSPACE); writes refused, reads and deletes served. */
  insufficientStorage: 507,
} as const;

export type FaultType = keyof typeof FAULT_STATUS;

/** Details are a string, an object (unknown route) or absent (URI malformed). */
export type FaultDetails = string | Record<string, unknown> | undefined;

/**
 * A fault of the v1.0 API. `code` (the TetherError code) is `registry.<type>`;
 * `status` is the HTTP status. Raised identically by RegistryService and HttpRegistry.
 */
export class RegistryFault extends TetherError {
  readonly type: FaultType;
  readonly status: number;
  readonly details: FaultDetails;
  readonly txnId: string | undefined;

  constructor(type: FaultType, message: string, details: FaultDetails, txnId?: string) {
    super(`registry.${type}`, message);
    this.name = 'RegistryFault';
    this.type = type;
    this.status = FAULT_STATUS[type];
    this.details = details;
    this.txnId = txnId;
  }

  /** The fault body of spec section 3.1 (key order: type, code, message, details, txnId). */
  toBody(txnId: string): Record<string, unknown> {
    const body: Record<string, unknown> = { type: this.type, code: this.status, message: this.message };
    if (this.details !== undefined) body.details = this.details;
    body.txnId = txnId;
    return body;
  }
}

export function isFault(err: unknown, type?: FaultType): err is RegistryFault {
  return err instanceof RegistryFault && (type === undefined || err.type === type);
}

// ---- the catalogue of spec section 3.3, exact texts ----

export const faults = {
  validation: (key: string, details: string) =>
    new RegistryFault('badRequest', `Validation error for key '${key}'`, details),
  invalidParam: (param: string, details: string) =>
    new RegistryFault('badRequest', `Invalid value for '${param}' query string parameter`, details),
  badMarkerChars: () =>
    faults.invalidParam(
      'marker',
      'Marker contains invalid characters. Valid characters are: /^[a-z0-9\\-:_\\.\\/]{0,255}$/i',
    ),
  limitNotNumber: () => new RegistryFault('invalidLimit', 'Invalid limit', 'Limit must be a number'),
  limitRange: (n: string) =>
    new RegistryFault('invalidLimit', 'Invalid limit', `Invalid limit ${n}. Minimum limit is 1 and maximum limit is 1000.`),
  /** Event marker and type faults repeat the details as the message. */
  badRequestSame: (text: string) => new RegistryFault('badRequest', text, text),
  serviceExists: (id: string) =>
    new RegistryFault('serviceWithThisIdExists', `Service with id ${id} already exists.`, `Service with id ${id} already exists.`),
  limitReached: (resource: string, max: number) =>
    new RegistryFault(
      'limitReached',
      'Resource limit has been reached',
      `Limit for resource ${resource} has been reached. Maximum allowed objects: ${max}`,
    ),
  notFound: (kind: 'Service' | 'ConfigurationValue' | 'HeartbeatMarker' | 'Session', key: string) =>
    new RegistryFault('notFoundError', 'object does not exist', `Object "${kind}" with key "${key}" does not exist`),
  noRoute: (requestedPath: string) =>
    new RegistryFault('notFoundError', 'The page cannot be found.', { requested_path: requestedPath }),
  unsupportedContentType: (type: string) =>
    new RegistryFault('badRequest', `Unsupported content type: ${type}`, `Unsupported content type: ${type}`),
  parseError: (parserMessage: string) =>
    new RegistryFault('badRequest', `Failed to parse request body: ${parserMessage}`, `Failed to parse request body: ${parserMessage}`),
  emptyBody: () => new RegistryFault('badRequest', 'Empty Request Body', 'Empty Request Body'),
  uriMalformed: () => new RegistryFault('badRequest', 'URI malformed', undefined),
  unauthorized: (details: 'No authentication token provided' | 'Invalid or expired authentication token' | 'No tenant id provided') =>
    new RegistryFault('unauthorizedError', 'forbidden', details),
  internal: () => new RegistryFault('internalError', 'Internal Error', 'Internal Error'),
  unavailable: () => new RegistryFault('systemFailureError', 'Internal Error', 'Internal Error'),
};
