import type { Logger } from '../observability/logger.js';
import { loadAuthFile, type AuthTable } from '../server/index.js';

export interface ReloadableAuth {
  /** Reads the current tokens on every request. */
  readonly table: AuthTable;
  /**
   * Re-reads the file. Resolves true when the new tokens are in use, false
   * when the file was rejected (unreadable or invalid, logged): the previous
   * tokens stay, so a bad edit never locks every client out. Never rejects.
   */
  reload(): Promise<boolean>;
}

/** `--auth-file PATH`, re-read on SIGHUP (`systemctl reload`), for token rotation without a restart. */
export async function reloadableAuthFile(path: string, log: Logger): Promise<ReloadableAuth> {
  let current = await loadAuthFile(path);
  return {
    table: {
      get entries() {
        return current.entries;
      },
    },
    async reload() {
      try {
        current = await loadAuthFile(path);
      } catch (err) {
        log.error({ file: path, error: err instanceof Error ? err.message : String(err) }, 'auth file rejected; the previous tokens stay');
        return false;
      }
      log.info({ file: path, tokens: current.entries.length }, 'auth file reloaded');
      return true;
    },
  };
}
