// A namespace import, not `{ z }`: the CLI bundle then keeps only the zod code used here, not every locale
// (figures: bench/README.md, "Figures behind design choices").
import * as z from 'zod';
import { DURATION_PATTERN } from '../lib/duration.js';

/**
 * The manifest's structure, written once: the validator (`tether validate`,
 * the agent's loader) and the shipped JSON Schema (schema/tether.schema.json,
 * for editors through yaml-language-server) are both generated from it.
 * Strict objects everywhere: an unknown key is an error.
 */

const duration = (what: string) =>
  z
    .union([z.number().nonnegative(), z.string().regex(new RegExp(DURATION_PATTERN), 'must be a duration like 500ms, 10s, 2m or a number of seconds')])
    .describe(`${what}. A duration: 500ms, 10s, 2m, 1h, or a number of seconds.`);

const serviceId = z
  .string()
  .regex(/^[a-z0-9_\-.]{3,65}$/i, 'must be 3..65 characters of a-z, 0-9, _, - and .')
  .describe('Service id in the registry: 3..65 characters of a-z, 0-9, `_`, `-`, `.`.');

const metaValue = z.union([z.string(), z.number(), z.boolean()]);

/** A URL the agent sends HTTP to (probes, actions): node:http speaks http: and https: only. */
const httpUrl = (): z.ZodURL => z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

const httpCheck = z.union([
  httpUrl().describe('URL probed with GET; 2xx is healthy.'),
  z.strictObject({
    url: httpUrl().describe('URL to probe.'),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS']).default('GET').describe('HTTP method (default GET).'),
    headers: z.record(z.string(), z.string()).default({}).describe('Request headers.'),
    expect_status: z
      .union([z.number().int(), z.string().regex(/^\d{3}(-\d{3})?(,\s*\d{3}(-\d{3})?)*$/, 'must look like "200-299" or "200,204"')])
      .default('200-299')
      .describe('Healthy status codes: a code, a range "200-299", or a list "200,204,300-399" (default 200-299).'),
    body_contains: z.string().optional().describe('The response body must contain this text.'),
    tls_skip_verify: z.boolean().default(false).describe('Accept any TLS certificate (self-signed probes).'),
  }),
]);

const grpcCheck = z.union([
  z.string().regex(/^.+:\d{1,5}$/, 'must be host:port').describe('host:port of a gRPC server: grpc.health.v1.Health/Check of the whole server, in plaintext.'),
  z.strictObject({
    address: z.string().regex(/^.+:\d{1,5}$/, 'must be host:port').describe('host:port of the gRPC server.'),
    service: z.string().default('').describe('The service name sent in HealthCheckRequest (default "": the whole server).'),
    tls: z.boolean().default(false).describe('Connect with TLS (default false: plaintext, as Kubernetes\' grpc probe).'),
    tls_skip_verify: z.boolean().default(false).describe('With tls: accept any certificate (self-signed servers).'),
  }),
]);

export const checkSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1..64 characters of a-z, A-Z, 0-9, _, - and .').optional().describe('Name in status and metrics (default: the kind, e.g. http; unique within the service).'),
    grpc: grpcCheck.optional().describe('gRPC health probe (grpc.health.v1.Health/Check): host:port, or an object with address, service, tls, tls_skip_verify; SERVING is healthy.'),
    http: httpCheck.optional().describe('HTTP probe: a URL, or an object with url, method, headers, expect_status, body_contains.'),
    tcp: z.string().regex(/^.+:\d{1,5}$/, 'must be host:port').optional().describe('TCP probe: host:port accepts a connection.'),
    exec: z.array(z.string().min(1, 'must not be empty')).min(1, 'needs at least the program').optional().describe('Command probe: argv array run without a shell; exit 0 is healthy; the whole process group is killed at the timeout.'),
    ttl: duration('TTL check: the application reports with POST /v1/checks/{service}/pass (or /fail) on the local API, and goes unhealthy when silent longer than this').optional(),
    interval: duration('Time between probes (default 10s)').optional(),
    timeout: duration('Probe timeout (default 2s)').optional(),
    initial_delay: duration('Wait before the first probe (default 0)').optional(),
    rise: z.number().int().min(1).max(100).optional().describe('Consecutive successes before healthy (default 1).'),
    fall: z.number().int().min(1).max(100).optional().describe('Consecutive failures before unhealthy (default 3).'),
  })
  .describe('Health check: exactly one of http, tcp, exec, ttl, grpc.');

export const serviceSchema = z
  .strictObject({
    id: serviceId,
    tags: z.array(z.string().min(1).max(55)).max(10).default([]).describe('Tags (0..10, each 1..55 characters); other agents select services by tag.'),
    metadata: z
      .record(z.string().min(1).max(255), metaValue)
      .default({})
      .describe('Metadata (0..20 entries); values are sent as strings (numbers and booleans are converted).'),
    heartbeat_timeout: duration('Registry heartbeat timeout, 3..120 seconds (default 15)').optional(),
    on_unhealthy: z
      .enum(['deregister', 'keep'])
      .default('deregister')
      .describe('deregister: remove the service while unhealthy; keep: stay registered with metadata status=critical.'),
    deregister_critical_after: duration(
      'With on_unhealthy: keep, deregister the service once it has been critical (unhealthy) this long, at least 1s; it is registered again when it passes again. Like Consul\'s DeregisterCriticalServiceAfter',
    ).optional(),
    check: checkSchema.optional(),
    checks: z.array(checkSchema).min(1).optional().describe('Several health checks (instead of check): the service is healthy only while every one passes.'),
  })
  .describe('A local service to probe and register.');

export const upstreamSchema = z
  .strictObject({
    url: z
      .union([z.string().url('must be a URL'), z.array(z.string().url('must be a URL')).min(1)])
      .describe('Registry base URL including the tenant, e.g. http://127.0.0.1:8470/v1.0/1234; a list is tried in order with failover.'),
    token: z.string().min(1).optional().describe('Auth token (X-Auth-Token). Prefer token_file or ${ENV}.'),
    token_file: z.string().min(1).optional().describe('File holding the auth token (trailing whitespace ignored).'),
    timeout: duration('Request timeout (default 5s)').optional(),
    tls: z
      .strictObject({
        ca_file: z.string().optional().describe('CA bundle (PEM) to verify the registry.'),
        cert_file: z.string().optional().describe('Client certificate (PEM).'),
        key_file: z.string().optional().describe('Client key (PEM).'),
        server_name: z.string().min(1).optional().describe("Name the registry's certificate must carry (default: the URL's host)."),
      })
      .optional()
      .describe('TLS settings for an https registry.'),
  })
  .describe('The registry this agent reports to.');

export const agentSchema = z
  .strictObject({
    listen: z.string().regex(/^.+:\d{1,5}$/, 'must be host:port').default('127.0.0.1:8471').describe('Local API address (default 127.0.0.1:8471).'),
    state_dir: z.string().min(1).optional().describe('Where the agent keeps its state (event marker). Default /var/lib/tether.'),
    heartbeat: z
      .enum(['session', 'service'])
      .default('session')
      .describe('session: one heartbeat keeps every service alive; service: one heartbeat chain per service.'),
    session_timeout: duration('Session heartbeat timeout, 3..120 s (default: the smallest heartbeat_timeout)').optional(),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).optional().describe('Log level (default info).'),
    resync_interval: duration("How often the agent compares with the registry (default 5m), one knob for both: each of its own services not confirmed by a registration or its own heartbeat within it is checked (one GET each, spread over the interval; session heartbeats do not confirm services), and the files' sources are synced in full").optional(),
    api_token_file: z
      .string()
      .min(1)
      .optional()
      .describe('File holding the local API token (trailing whitespace ignored); TETHER_AGENT_TOKEN overrides it. Required beyond loopback.'),
  })
  .describe('Settings of the agent itself.');

const signalName = z.string().regex(/^SIG[A-Z0-9]+$/, 'must be a signal name like SIGHUP');

export const actionSchema = z
  .union([
    z.strictObject({
      exec: z.array(z.string().min(1, 'must not be empty')).min(1, 'needs at least the program').describe('Command argv, run without a shell.'),
      shell: z.boolean().default(false).describe('Run `sh -c "<argv joined>"` instead (only when you need a shell).'),
      timeout: duration('Kill the command (its whole process group) after this long (default 30s)').optional(),
    }),
    z.strictObject({
      signal: signalName.describe('Signal to send, e.g. SIGHUP.'),
      pidfile: z.string().min(1).optional().describe('File holding the pid to signal.'),
      process: z.string().min(1).optional().describe('Signal every process with this name (needs a shared process namespace in Kubernetes).'),
    }),
    z.strictObject({
      http: z
        .union([
          httpUrl(),
          z.strictObject({
            url: httpUrl(),
            method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
            headers: z.record(z.string(), z.string()).default({}),
          }),
        ])
        .describe('HTTP request (POST by default); 2xx is success.'),
      timeout: duration('Request timeout (default 10s)').optional(),
    }),
    z.strictObject({
      queue: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1..64 characters of a-z, A-Z, 0-9, _ and -').describe('Post a message to this queue of the upstream tenant\'s project.'),
      body: z.string().min(1).optional().describe('Inline LiquidJS template of the body; sees `input` (the event, the message, or null for a file change); JSON when it parses, else a string. Default: `input` itself.'),
      ttl: duration('Message ttl, 60s..14d (default 1h)').optional(),
    }),
  ])
  .describe('A reload action: exec, signal, http or queue.');

const actionRef = z
  .union([z.string().min(1).describe('The name of an action under `actions`.'), actionSchema])
  .describe('An action: a name from `actions`, or an inline action.');

const configKey = z.string().min(3).max(500).describe('A configuration key, e.g. /production/cassandra/listen_ip.');

export const sourceSchema = z
  .union([
    z.strictObject({ key: configKey }),
    z.strictObject({ namespace: z.string().min(1).describe('A namespace, e.g. /production/cassandra/ (keys are relative to it).') }),
    z.strictObject({
      services: z
        .strictObject({
          tag: z.string().min(1).optional().describe('Only services with this tag.'),
          id_prefix: z.string().min(1).optional().describe('Only services whose id starts with this.'),
          floor: z
            .strictObject({
              min: z.number().int().min(1).optional().describe('Fewer services than this: keep the last good list.'),
              percent: z.number().min(1).max(100).optional().describe('Fewer than this percentage of the largest good list of the window: keep the last good list.'),
              window: duration('How long a good list counts as the reference of percent (default 1m)').optional(),
            })
            .optional()
            .describe('Keep the last good list when the list drops below min and/or percent of the last good list (a wiped registry, a mass timeout); released when a list meets the floor again.'),
        })
        .describe('Registered services, sorted by id.'),
    }),
  ])
  .describe('A data source: { key }, { namespace } or { services: { tag, id_prefix } }.');

export const fileSchema = z
  .strictObject({
    path: z.string().min(1).describe('Destination file (relative paths are relative to the manifest file). A value never chooses a path.'),
    from: z
      .union([sourceSchema, z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a template variable name'), sourceSchema)])
      .describe('One source, or named sources for a template: { api: { services: { tag: api } }, tuning: { namespace: /nginx/ } }.'),
    format: z.enum(['raw', 'json', 'yaml', 'env']).optional().describe('raw (a key, verbatim), json, yaml or env. Default: raw for a key, json otherwise; not with template.'),
    template: z.string().min(1).optional().describe('A LiquidJS template file (relative to the manifest file).'),
    mode: z.union([z.string().regex(/^0?[0-7]{3,4}$/, 'must be an octal mode like "0640"'), z.number().int()]).optional().describe('File mode, e.g. "0640".'),
    owner: z.union([z.string().min(1), z.number().int().nonnegative()]).optional().describe('Owner user (name or uid).'),
    group: z.union([z.string().min(1), z.number().int().nonnegative()]).optional().describe('Owner group (name or gid).'),
    check: z.array(z.string().min(1)).min(1).optional().describe('Command run on the staged file (TETHER_STAGED_PATH) before the swap; failing keeps the old file.'),
    on_change: actionRef.optional().describe('Action run once the new bytes are in place (once per burst).'),
    wait: z
      .union([duration('Quiescence'), z.strictObject({ min: duration('Calm period before rendering'), max: duration('Longest delay after the first change').optional() })])
      .optional()
      .describe('Quiescence: render after `min` of calm, at most `max` after the first change (default: at once).'),
    on_missing: z.enum(['keep', 'delete', 'error']).default('keep').describe('A missing key or namespace: keep the file (default), delete it, or report an error.'),
  })
  .describe('A file rendered from registry data.');

export const hookSchema = z
  .strictObject({
    on: z.array(z.enum(['service.join', 'service.remove', 'service.timeout', 'configuration_value.update', 'configuration_value.remove'])).min(1).describe('Event types.'),
    filter: z
      .strictObject({
        service_tag: z.string().min(1).optional(),
        service_id_prefix: z.string().min(1).optional(),
        key_prefix: z.string().min(1).optional(),
      })
      .optional()
      .describe('Only events of services with this tag / id prefix, or of keys with this prefix.'),
    action: actionRef.describe('Run with the event as JSON on stdin (exec) or as the body (http).'),
  })
  .describe('Run an action on matching registry events.');

const queueName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1..64 characters of a-z, A-Z, 0-9, _ and -').describe('A queue of the upstream tenant\'s project.');

export const workerSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be a simple name').describe('The worker\'s name (unique; the `worker` label of its metrics).'),
    queue: queueName,
    concurrency: z.number().int().min(1).max(100).default(1).describe('Messages handled at once (default 1).'),
    ttl: duration('Claim ttl, up to 12h (the server\'s floor applies, 60s by default); renewed while the action runs (default 60s)').optional(),
    grace: duration('Claim grace, up to 12h (the server\'s floor applies; default 60s)').optional(),
    filter: z
      .strictObject({
        types: z.array(z.string().min(1)).min(1).optional().describe('Only messages whose body.type is one of these (registry event messages).'),
        service_tag: z.string().min(1).optional().describe('Only event messages of services with this tag.'),
        service_id_prefix: z.string().min(1).optional().describe('Only event messages of services whose id starts with this.'),
        key_prefix: z.string().min(1).optional().describe('Only event messages of configuration keys with this prefix.'),
        match: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).optional().describe('Only messages whose body has these top-level fields with these values.'),
      })
      .optional()
      .describe('Messages that do not match are DELETED without running the action (counted as skipped): every worker on one queue must use the same filter; split work with separate event routes and queues.'),
    action: actionRef.describe('Run once per message: exec gets the message as JSON on stdin, http as the body.'),
    attempts: z.number().int().min(1).max(100).default(5).describe('Failed runs before the message goes to dead_letter (or is dropped without it; default 5).'),
    dead_letter: queueName.optional().describe('Queue that gets a message after its last failed attempt, with its attempts and last error.'),
    retry_delay: duration('First delay before a failed message is retried, doubled per attempt up to 1m (default 1s)').optional(),
  })
  .describe('Work a queue: claim, run the action, delete on success; retry, then dead-letter, on failure.');

const onChangePolicy = z
  .union([z.enum(['restart', 'none']), signalName])
  .describe('restart (stop signal, kill timeout, SIGKILL, start again), none, or a signal name such as SIGHUP sent to the child.');

export const execSchema = z
  .strictObject({
    command: z.array(z.string().min(1, 'must not be empty')).min(1, 'needs at least the program').optional().describe('The child: argv, run without a shell (the command line after `--` takes precedence).'),
    env: z
      .array(
        z.union([
          z.strictObject({ key: configKey, name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').describe('The variable that gets the value.') }),
          z.strictObject({
            namespace: z.string().min(1).describe('A namespace: one variable per key under it.'),
            prefix: z.string().regex(/^[A-Za-z0-9_]*$/, 'must be letters, digits and _').default('').describe('Prepended to each name: /app/db/host in namespace /app/ with prefix APP_ is APP_DB_HOST.'),
          }),
        ]),
      )
      .default([])
      .describe('Environment from configuration values: { key, name } or { namespace, prefix }. A change restarts the child.'),
    on_change: onChangePolicy.default('restart').describe('What a changed file does to the child (default restart): restart, none, or a signal name.'),
    files: z.record(z.string().min(1), onChangePolicy).default({}).describe('Per-file on_change, by the path as written under `files`.'),
    stop_signal: signalName.default('SIGTERM').describe('Signal that asks the child to stop (default SIGTERM).'),
    kill_timeout: duration('Wait after the stop signal before SIGKILL (default 10s)').optional(),
    restart: z.enum(['always', 'on-failure', 'never']).default('never').describe('Crash policy, as systemd Restart=: always, on-failure (non-zero exit or a signal), never (default: tether exits with the child).'),
    restart_delay: duration('First delay before a restart after a crash, doubled up to restart_max_delay (default 1s)').optional(),
    restart_max_delay: duration('Longest delay between restarts after crashes (default 30s)').optional(),
    wait: z
      .union([duration('Quiescence'), z.strictObject({ min: duration('Calm period before acting'), max: duration('Longest delay after the first change').optional() })])
      .optional()
      .describe('Debounce of change restarts and signals, like a file\'s wait (default: at once).'),
    splay: duration('A random delay up to this before a change restart or signal, so a fleet does not restart at once (default 0)').optional(),
    render_timeout: duration('Longest wait for every file to be rendered (and the environment read) before the first start (default 30s)').optional(),
    min_uptime: duration('A child that exits sooner than this after its first start is a start failure (default 1s)').optional(),
    drain: duration('At shutdown, the delay between deregistering the child\'s service and stopping the child (default 0)').optional(),
    service: serviceSchema.optional().describe('The child as a service: registered while the child runs and passes its check.'),
  })
  .describe('`tether exec`: the application runs as the agent\'s child.');

export const manifestSchema = z
  .strictObject({
    upstream: upstreamSchema.optional(),
    agent: agentSchema.optional(),
    services: z.array(serviceSchema).default([]).describe('Local services.'),
    actions: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be a simple name'), actionSchema).default({}).describe('Named reload actions, shared by files and hooks.'),
    files: z.array(fileSchema).default([]).describe('Files rendered from configuration values and services.'),
    hooks: z.array(hookSchema).default([]).describe('Actions run on registry events.'),
    exec: execSchema.optional(),
    workers: z.array(workerSchema).default([]).describe('Queue workers: each claims messages of a queue and runs an action per message.'),
  })
  .describe('Tether agent manifest.');

export type RawManifest = z.input<typeof manifestSchema>;
export type ParsedManifest = z.output<typeof manifestSchema>;
export type ParsedService = z.output<typeof serviceSchema>;
export type ParsedCheck = z.output<typeof checkSchema>;
export type ParsedFile = z.output<typeof fileSchema>;
export type ParsedAction = z.output<typeof actionSchema>;
export type ParsedHook = z.output<typeof hookSchema>;
export type ParsedSource = z.output<typeof sourceSchema>;
export type ParsedExec = z.output<typeof execSchema>;
export type ParsedWorker = z.output<typeof workerSchema>;
