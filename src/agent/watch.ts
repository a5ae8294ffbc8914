import { watch } from 'chokidar';
import type { Logger } from 'pino';

/**
 * Watches the manifest path (a file, or a conf.d directory: additions and
 * removals included) and extra files (templates), calling `onChange` once per
 * burst of edits (editors write, rename and chmod in quick succession).
 * Returns a function that stops watching.
 */
export function watchPaths(paths: string[], onChange: () => void, log: Logger, debounceMs = 150): () => Promise<void> {
  const watcher = watch(paths, { ignoreInitial: true, depth: 0 });
  let timer: NodeJS.Timeout | undefined;
  watcher.on('all', (event, path) => {
    log.debug({ event, path }, 'manifest path changed');
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  watcher.on('error', (err) => log.warn({ err }, 'manifest watcher error'));
  return async () => {
    clearTimeout(timer);
    await watcher.close();
  };
}
