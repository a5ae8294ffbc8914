import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import * as z from 'zod';
import { TetherError } from '../lib/errors.js';
import { faults } from '../registry/faults.js';
import { TENANT_RE } from '../registry/validate.js';

/**
 * Static token auth (spec 1.2: token checking is a deployment choice).
 *
 * Only SHA-256 digests of the tokens are kept. A check hashes the presented
 * token and compares it with EVERY entry using timingSafeEqual, without an
 * early exit: neither the length nor the content of a stored token leaks
 * through timing. The cost is one hash plus one 32-byte compare per entry,
 * fine for the tens of tokens a static file holds.
 */

export interface AuthEntry {
  readonly digest: Buffer;
  /** The tenant this token may access, or `*` for every tenant (admin). */
  readonly tenant: string;
}

export interface AuthTable {
  readonly entries: readonly AuthEntry[];
}

export interface TokenGrant {
  token: string;
  tenant: string;
}


function digestOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Builds a table from tokens; a token may appear several times, once per tenant it may access. */
export function createAuthTable(grants: readonly TokenGrant[]): AuthTable {
  return { entries: grants.map((g) => ({ digest: digestOf(g.token), tenant: g.tenant })) };
}

/**
 * Throws the 401 fault of spec 1.2 unless `token` grants access to `tenant`:
 * 'No authentication token provided' when missing or empty, otherwise
 * 'Invalid or expired authentication token' (unknown token, or a token of
 * another tenant: the two are not told apart).
 */
export function authenticate(table: AuthTable, tenant: string, token: string | undefined): void {
  if (token === undefined || token === '') throw faults.unauthorized('No authentication token provided');
  const digest = digestOf(token);
  let ok = false;
  for (const e of table.entries) {
    const same = timingSafeEqual(e.digest, digest);
    ok = (same && (e.tenant === '*' || e.tenant === tenant)) || ok;
  }
  if (!ok) throw faults.unauthorized('Invalid or expired authentication token');
}

const GrantSchema = z.strictObject(
  {
    token: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }),
    tenant: z
      .string({ error: 'must be a string' })
      .refine((t) => t === '*' || TENANT_RE.test(t), { error: 'must be a tenant id ([A-Za-z0-9_.-]+) or "*"' }),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? 'unknown key (expected only token, tenant)' : 'must be a mapping with token and tenant') },
);

const AuthFileSchema = z.strictObject(
  { tokens: z.array(GrantSchema, { error: 'must be a list of {token, tenant}' }).min(1, { error: 'must hold at least one token' }) },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? 'unknown key (expected only tokens)' : 'must be a mapping with a tokens list') },
);

/** `where` is the file path, or `path:line:col`. */
function fail(where: string, what: string, cause?: unknown): never {
  throw new TetherError('server.authFile', `${where}: ${what}`, cause === undefined ? undefined : { cause });
}

/**
 * Reads a YAML auth file: `tokens: [{ token: "...", tenant: "1234" | "*" }, ...]`.
 * Returns the table; throws TetherError `server.authFile` naming the file and
 * every problem (dotted path). Messages never contain a token: YAML errors
 * report only line:column and the error code, schema errors only the path.
 */
export async function loadAuthFile(path: string): Promise<AuthTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    fail(path, `cannot read auth file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
  }
  const doc = parseDocument(text);
  const yamlErr = doc.errors[0];
  if (yamlErr !== undefined) {
    const pos = yamlErr.linePos?.[0];
    fail(pos ? `${path}:${pos.line}:${pos.col}` : path, `invalid YAML (${yamlErr.code})`);
  }
  const parsed = AuthFileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
    fail(path, issues.join('; '));
  }
  return createAuthTable(parsed.data.tokens);
}
