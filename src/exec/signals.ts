import { REPEAT_WINDOW_MS } from '../lifecycle/signals.js';

/** The signals `tether exec` passes on to its child. */
export const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];

export interface ExecSignalHandlers {
  /** The first SIGINT or SIGTERM: the shutdown (deregister, drain, then the signal goes to the child). */
  terminate(sig: NodeJS.Signals): void;
  /** Every other forwarded signal (SIGHUP, SIGUSR1, SIGUSR2, a later SIGINT or SIGTERM). */
  forward(sig: NodeJS.Signals): void;
}

/**
 * Installs the handlers of the forwarded signals and returns their remover.
 * A listener replaces Node's default action (exit; for SIGUSR1, the
 * inspector), so tether survives them all and decides itself. A repeat of
 * the terminating signal within REPEAT_WINDOW_MS is the same request
 * delivered twice (see lifecycle/signals.ts) and is dropped.
 */
export function handleExecSignals(h: ExecSignalHandlers): () => void {
  let terminatedAt: number | null = null;
  const listeners = FORWARDED.map((sig) => {
    const fn = (): void => {
      if (sig !== 'SIGINT' && sig !== 'SIGTERM') return h.forward(sig);
      if (terminatedAt === null) {
        terminatedAt = performance.now();
        return h.terminate(sig);
      }
      if (performance.now() - terminatedAt >= REPEAT_WINDOW_MS) h.forward(sig);
    };
    process.on(sig, fn);
    return [sig, fn] as const;
  });
  return () => {
    for (const [sig, fn] of listeners) process.off(sig, fn);
  };
}
