/**
 * The package's second entry (`tether-sidecar/server`): what it takes to
 * embed a registry in your own process, the registry domain over a store
 * behind the HTTP server, and the logger they take. It carries the server's
 * weight (better-sqlite3, zod, pino), which is why the client entry
 * (src/index.ts) does not re-export any of it.
 */
export { RegistryService } from './registry/service.js';
export type { RegistryServiceOptions } from './registry/service.js';
export { openSqliteStore } from './store/sqlite.js';
export type { SqliteStoreOptions } from './store/sqlite.js';
export { openEtcdStore } from './store/etcd.js';
export type { EtcdStoreOptions } from './store/etcd.js';
export type { Store } from './store/store.js';
export { createRegistryServer, createAuthTable, loadAuthFile } from './server/index.js';
export type { AuthTable, RegistryServer, RegistryServerOptions, TokenGrant } from './server/index.js';
export { createLogger, silentLogger } from './observability/logger.js';
export { loadServerTls, reloadableServerTls } from './server/tls.js';
export type { ReloadableTls, ServerTlsFiles, ServerTlsOptions } from './server/tls.js';
