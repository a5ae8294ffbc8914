import { z } from 'zod';
import { DURATION_PATTERN } from '../duration.js';

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

const httpCheck = z.union([
  z.string().url('must be a URL').describe('URL probed with GET; 2xx is healthy.'),
  z.strictObject({
    url: z.string().url('must be a URL').describe('URL to probe.'),
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

export const checkSchema = z
  .strictObject({
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
  .describe('Health check: exactly one of http, tcp, exec, ttl.');

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
    check: checkSchema.optional(),
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
  })
  .describe('Settings of the agent itself.');

export const manifestSchema = z
  .strictObject({
    upstream: upstreamSchema.optional(),
    agent: agentSchema.optional(),
    services: z.array(serviceSchema).default([]).describe('Local services.'),
  })
  .describe('Tether agent manifest.');

export type RawManifest = z.input<typeof manifestSchema>;
export type ParsedManifest = z.output<typeof manifestSchema>;
export type ParsedService = z.output<typeof serviceSchema>;
export type ParsedCheck = z.output<typeof checkSchema>;
