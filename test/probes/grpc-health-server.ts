import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';

/**
 * A real grpc-js server with grpc.health.v1.Health/Check, its messages
 * encoded by protobufjs (through @grpc/proto-loader, from health.proto's
 * JSON form): an implementation independent of the probe's hand-written
 * codec. Services not in the table answer NOT_FOUND, as the reference
 * health service does; a service whose status is 'HANG' never answers.
 */

const HEALTH_PROTO = {
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
                },
                Health: { methods: { Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' } } },
              },
            },
          },
        },
      },
    },
  },
};

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN' | 'HANG';

export interface HealthServer {
  port: number;
  /** Sets a service's status ('' is the whole server). */
  set(service: string, status: ServingStatus): void;
  /** Check calls answered so far, by service name. */
  calls: Map<string, number>;
  stop(): Promise<void>;
}

interface HealthPackage {
  grpc: { health: { v1: { Health: { service: grpc.ServiceDefinition } } } };
}

/** Starts the server on 127.0.0.1, port 0, with '' SERVING. */
export async function startHealthServer(opts: { credentials?: grpc.ServerCredentials } = {}): Promise<HealthServer> {
  const definition = fromJSON(HEALTH_PROTO as Parameters<typeof fromJSON>[0], { enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as HealthPackage;
  const statuses = new Map<string, ServingStatus>([['', 'SERVING']]);
  const calls = new Map<string, number>();
  const server = new grpc.Server();
  server.addService(pkg.grpc.health.v1.Health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<{ status: string }>) => {
      const name = call.request.service;
      calls.set(name, (calls.get(name) ?? 0) + 1);
      const status = statuses.get(name);
      if (status === 'HANG') return;
      if (status === undefined) return callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${name}` });
      callback(null, { status });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    set: (service, status) => void statuses.set(service, status),
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        // Hanging calls would hold a graceful shutdown forever.
        server.forceShutdown();
        resolve();
      }),
  };
}
