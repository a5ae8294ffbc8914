/**
 * The two messages of grpc.health.v1 (grpc/grpc-proto health.proto), encoded
 * by hand: `HealthCheckRequest { string service = 1; }` and
 * `HealthCheckResponse { ServingStatus status = 1; }`. Two fields do not
 * justify a .proto loader (protobufjs parses the schema text at every start).
 */

export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';

/** HealthCheckResponse.ServingStatus, by number. */
export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** The request's wire bytes: field 1 (length-delimited) when the name is not empty; proto3 omits a default. */
export function encodeHealthRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  if (name.length === 0) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
}

/**
 * The response's `status` (0 when absent, as proto3 reads it). Skips fields
 * it does not know, as a protobuf reader must. Throws on bytes that are not
 * a protobuf message (a truncated varint, an unknown wire type).
 */
export function decodeHealthResponse(buf: Buffer): number {
  let status = 0;
  let i = 0;
  while (i < buf.length) {
    const [tag, afterTag] = readVarint(buf, i);
    const wire = tag & 7;
    i = afterTag;
    if (wire === 0) {
      const [value, next] = readVarint(buf, i);
      if (tag >>> 3 === 1) status = value;
      i = next;
    } else if (wire === 2) {
      const [len, next] = readVarint(buf, i);
      i = next + len;
    } else if (wire === 1 || wire === 5) {
      i += wire === 1 ? 8 : 4;
    } else {
      throw new Error(`not a HealthCheckResponse (wire type ${wire})`);
    }
  }
  if (i > buf.length) throw new Error('not a HealthCheckResponse (truncated)');
  return status;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** A varint of at most 35 bits (enough for tags, lengths and enums); [value, next offset]. */
function readVarint(buf: Buffer, start: number): [number, number] {
  let value = 0;
  for (let i = start, shift = 0; i < buf.length && shift < 35; i++, shift += 7) {
    const b = buf[i] as number;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, i + 1];
  }
  throw new Error('not a HealthCheckResponse (bad varint)');
}
