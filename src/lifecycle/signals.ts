/**
 * A repeat within this window is the same request delivered twice, not a
 * second one: Ctrl-C in a terminal signals every process of the foreground
 * group, and `npm start` forwards the signal it got to its child as well, so
 * the agent sees two SIGINTs a few milliseconds apart.
 */
export const REPEAT_WINDOW_MS = 1000;

/**
 * Resolves with the first SIGTERM or SIGINT; a second one, at least
 * `repeatWindowMs` later, exits the process at once (exit 1), for a shutdown
 * that hangs. `onHup`, when given, is called on every SIGHUP (reload) until
 * the first terminating signal.
 */
export function firstSignal(onHup?: () => void, repeatWindowMs = REPEAT_WINDOW_MS): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const hup = (): void => onHup?.();
    const onSignal = (sig: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('SIGHUP', hup);
      const first = performance.now();
      const again = (): void => {
        if (performance.now() - first >= repeatWindowMs) process.exit(1);
      };
      process.on('SIGTERM', again);
      process.on('SIGINT', again);
      resolve(sig);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (onHup) process.on('SIGHUP', hup);
  });
}
