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
      const first = performance.now();
      const again = (): void => {
        if (performance.now() - first >= repeatWindowMs) process.exit(1);
      };
      // The new listeners go on before the old ones come off: a signal with no listener left,
      // even for an instant, gets its default action (a repeated Ctrl-C would kill the process
      // before it deregistered), and a SIGHUP during shutdown is ignored rather than fatal.
      process.on('SIGTERM', again);
      process.on('SIGINT', again);
      if (onHup) process.on('SIGHUP', ignore);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('SIGHUP', hup);
      resolve(sig);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (onHup) process.on('SIGHUP', hup);
  });
}

function ignore(): void {}
