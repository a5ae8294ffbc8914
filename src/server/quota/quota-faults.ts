import { queueFault, type QueueFault } from '../../queues/faults.js';
import { RegistryFault } from '../../registry/faults.js';
import { isQuotaError } from './quota-error.js';

/**
 * The registry fault for a quota refusal, or undefined for any other error.
 * A tenant cap or storage quota is the spec's resource limit (400
 * limitReached, spec 3.3's text with its resource named); a full database is
 * 507 insufficientStorage (an extension: the server, not the request, is out
 * of room), with its message kept, unlike other 5xx replies.
 */
export function registryQuotaFault(err: unknown): RegistryFault | undefined {
  if (!isQuotaError(err)) return undefined;
  if (err.kind === 'db_full') return new RegistryFault('insufficientStorage', 'Insufficient storage', err.message);
  const resource = err.kind === 'tenants' ? 'tenant' : 'storage_bytes';
  const unit = err.kind === 'tenants' ? 'objects' : 'bytes';
  return new RegistryFault('limitReached', 'Resource limit has been reached', `Limit for resource ${resource} has been reached. Maximum allowed ${unit}: ${err.limit}`);
}

/**
 * The queues fault for a quota refusal, or undefined: 400 Invalid API call
 * (spec 2.7: "validation failure: limits") for the tenant cap and quota, 507
 * "Insufficient storage" for a full database.
 */
export function queuesQuotaFault(err: unknown): QueueFault | undefined {
  if (!isQuotaError(err)) return undefined;
  return queueFault(err.kind === 'db_full' ? 'insufficientStorage' : 'invalidApiCall', err.message, err);
}
