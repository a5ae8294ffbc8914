import type * as undici from 'undici';
import api from 'undici/lib/api/index.js';
import DispatcherClass from 'undici/lib/dispatcher/dispatcher.js';
import PoolClass from 'undici/lib/dispatcher/pool.js';

/**
 * undici's Pool, without undici's index, for the etcd store's JSON gateway
 * client (the agent and the registry client use node:http: node-http.ts).
 * The index also loads fetch, WebSocket, EventSource, the cookie, cache and
 * mock code: 733 KB in the CLI bundle and ~100 ms of a start-up, for nothing
 * Tether calls. The paths are undici's internals, pinned by the lockfile;
 * the etcd tests go through them. Types are undici's own
 * (src/types/undici-dispatchers.d.ts).
 */

// What the index does for every dispatcher: request(), stream(), pipeline(), connect(), upgrade().
Object.assign(DispatcherClass.prototype, api);

export const Pool = PoolClass;
export type Pool = undici.Pool;
export type { Dispatcher } from 'undici';
