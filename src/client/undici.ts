import type * as undici from 'undici';
import api from 'undici/lib/api/index.js';
import AgentClass from 'undici/lib/dispatcher/agent.js';
import DispatcherClass from 'undici/lib/dispatcher/dispatcher.js';
import PoolClass from 'undici/lib/dispatcher/pool.js';

/**
 * undici's Pool and Agent, without undici's index. The index also loads
 * fetch, WebSocket, EventSource, the cookie, cache and mock code: 733 KB in
 * the CLI bundle, ~100 ms of the agent's start-up and ~5 MB of its RSS, for
 * nothing Tether calls. These modules are 351 KB and ~45 ms. The paths are
 * undici's internals, pinned by the lockfile; every HTTP test goes through
 * them. Types are undici's own (src/types/undici-dispatchers.d.ts).
 */

// What the index does for every dispatcher: request(), stream(), pipeline(), connect(), upgrade().
Object.assign(DispatcherClass.prototype, api);

export const Pool = PoolClass;
export type Pool = undici.Pool;
export const Agent = AgentClass;
export type Agent = undici.Agent;
export type { Dispatcher } from 'undici';
