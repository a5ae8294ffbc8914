import { TetherError, hasCode } from '../lib/errors.js';

/** etcd's user and password (etcd auth enabled); never logged, never in an error. */
export interface EtcdAuth {
  user: string;
  password: string;
}

type Headers = Record<string, string>;

/**
 * The etcd gateway's login: one token shared by every request, got from
 * POST /v3/auth/authenticate on first use and again after etcd refused it
 * ("invalid auth token": a simple token expires after --auth-token-ttl
 * idle, 5 min by default). A refused request is sent once more with the new
 * token: etcd checks the token before applying anything.
 */
export class EtcdLogin {
  /** The login in use (or under way); null: log in at the next request. */
  private token: Promise<string> | null = null;

  /** `authenticate` sends the body to /v3/auth/authenticate and resolves with etcd's reply. */
  constructor(
    private readonly auth: EtcdAuth,
    private readonly authenticate: (body: { name: string; password: string }) => Promise<{ token?: string }>,
  ) {}

  /** Runs `fn` with `base` plus the token; once more after a new login when etcd says the token expired. */
  async withToken<T>(base: Headers, fn: (headers: Headers) => Promise<T>): Promise<T> {
    const token = this.current();
    try {
      return await fn(await withAuthorization(base, token));
    } catch (err) {
      if (!hasCode(err, 'store.auth_expired')) throw err;
      this.forget(token);
      return fn(await withAuthorization(base, this.current()));
    }
  }

  /** The token in use, logging in first when there is none; rejects with `store.auth_failed` or `store.unavailable`. */
  current(): Promise<string> {
    this.token ??= this.authenticate({ name: this.auth.user, password: this.auth.password }).then((r) => {
      if (typeof r.token !== 'string' || r.token === '') throw new TetherError('store.failed', 'etcd: authenticate returned no token (is auth enabled?)');
      return r.token;
    });
    const mine = this.token;
    // A failed login is not kept: the next request tries again.
    mine.catch(() => this.forget(mine));
    return mine;
  }

  /** Drops `token` unless a newer login replaced it meanwhile. */
  forget(token: Promise<string>): void {
    if (this.token === token) this.token = null;
  }
}

export async function withAuthorization(base: Headers, token: Promise<string>): Promise<Headers> {
  return { ...base, authorization: await token };
}
