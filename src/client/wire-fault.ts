import { FAULT_STATUS, RegistryFault, type FaultDetails, type FaultType } from '../registry/faults.js';

/**
 * Rebuilds the RegistryFault a non-2xx reply stands for, so an HttpRegistry
 * caller sees the same error as an in-process RegistryService caller.
 *
 * - a fault body (spec 3.1) gives its own type, message, details and txnId;
 * - 413 has an empty body by contract (spec 1.3): requestTooLargeError;
 * - anything else (a proxy's HTML page, an unknown `type`) is classified by
 *   status: 503 systemFailureError, other 5xx internalError, known 4xx their
 *   type, other 4xx badRequest.
 *
 * `txnId` falls back to the `X-Response-Id` header (the same value).
 */
export function faultFromReply(status: number, bodyText: string, responseId: string | undefined): RegistryFault {
  const body = parseObject(bodyText);
  const txnId = typeof body?.txnId === 'string' ? body.txnId : responseId;
  if (body && isFaultType(body.type)) {
    const message = typeof body.message === 'string' ? body.message : String(body.type);
    return new RegistryFault(body.type, message, asDetails(body.details), txnId);
  }
  if (status === 413) return new RegistryFault('requestTooLargeError', 'Request Entity Too Large', undefined, txnId);
  const type = typeForStatus(status);
  const message = body && typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  return new RegistryFault(type, message, body ? asDetails(body.details) : undefined, txnId);
}

function typeForStatus(status: number): FaultType {
  switch (status) {
    case 401:
      return 'unauthorizedError';
    case 403:
      return 'forbiddenError';
    case 404:
      return 'notFoundError';
    case 501:
      return 'notImplementedError';
    case 503:
      return 'systemFailureError';
    default:
      return status >= 500 ? 'internalError' : 'badRequest';
  }
}

function isFaultType(v: unknown): v is FaultType {
  return typeof v === 'string' && Object.hasOwn(FAULT_STATUS, v);
}

function asDetails(v: unknown): FaultDetails {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  return undefined;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  if (text === '') return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
