/**
 * Resolves with the first SIGTERM or SIGINT; a second one exits the process
 * at once (exit 1), for a shutdown that hangs. `onHup`, when given, is called
 * on every SIGHUP (reload) until the first terminating signal.
 */
export function firstSignal(onHup?: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const hup = (): void => onHup?.();
    const onSignal = (sig: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('SIGHUP', hup);
      const again = (): never => process.exit(1);
      process.once('SIGTERM', again);
      process.once('SIGINT', again);
      resolve(sig);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (onHup) process.on('SIGHUP', hup);
  });
}
