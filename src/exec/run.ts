import type { Logger } from 'pino';
import { Agent } from '../agent/agent.js';
import { sleep } from '../lib/backoff.js';
import { TetherError } from '../lib/errors.js';
import { loadReaperAddon, startOrphanReaper, type OrphanReaper } from '../lib/process-reaper.js';
import { formatIssue } from '../manifest/issues.js';
import { loadManifest } from '../manifest/load.js';
import type { ExecSpec, Manifest } from '../manifest/model.js';
import { defaultExecSpec } from '../manifest/normalize-exec.js';
import { exitCodeOf } from './child.js';
import { EnvWatch } from './env-watch.js';
import { ExecMetrics } from './metrics.js';
import { prepare } from './prepare.js';
import { handleExecSignals } from './signals.js';
import { Supervisor, type SupervisorHooks } from './supervisor.js';

export interface ExecOptions {
  configPath: string;
  /** The command after `--`; empty: the manifest's exec.command. */
  argv: readonly string[];
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

/**
 * `tether exec`, as a list of steps: load the manifest; start the agent
 * (files, services, local API); wait until every file is rendered and the
 * environment is read (exec.render_timeout); start the child; then follow
 * changes and crashes until the child ends for good or a signal asks tether
 * to stop (deregister, drain, stop the child). Resolves with tether's exit
 * code: the child's. Rejects with a TetherError (exec.*, manifest.invalid,
 * agent.no_upstream) when the child could not be started; nothing is left
 * running then.
 */
export async function runExec(opts: ExecOptions): Promise<number> {
  const log = opts.logger.child({ component: 'exec' });
  const env = opts.env ?? process.env;
  const manifest = await loadValid(opts.configPath, env);
  const spec: ExecSpec = manifest.exec ?? defaultExecSpec();
  const argv = opts.argv.length > 0 ? opts.argv : (spec.command ?? []);
  if (argv.length === 0) throw new TetherError('exec.no_command', 'no command to run: give it after `--` or as exec.command');
  const reaper = process.pid === 1 ? startPid1Reaper(log) : null;

  let stopRequested: NodeJS.Signals | null = null;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((r) => (wake = r));
  let supervisor: Supervisor | null = null;
  const removeSignals = handleExecSignals({
    terminate: (sig) => {
      stopRequested = sig;
      wake();
    },
    forward: (sig) => {
      log.info({ signal: sig, pid: supervisor?.pid }, 'forwarding signal to the child');
      supervisor?.forward(sig);
    },
  });
  const agent = await Agent.start({
    configPath: opts.configPath,
    logger: opts.logger,
    env,
    onFileChange: (path) => supervisor?.change(spec.files[path] ?? spec.onChange),
    statusExtra: () => (supervisor ? { exec: supervisor.status() } : {}),
  }).catch((err: unknown) => {
    removeSignals();
    reaper?.stop();
    throw err;
  });
  const envWatch = new EnvWatch({
    ...agent.registry,
    sources: spec.env,
    base: env,
    onChange: () => {
      log.info('environment changed: restarting the child');
      supervisor?.change({ kind: 'restart' });
    },
    onError: (err) => log.debug({ err: String(err) }, 'environment follower error; retrying'),
  });
  try {
    await prepare(agent, envWatch, spec.renderTimeoutMs, stopped);
    if (stopRequested !== null) return exitCodeOf({ code: null, signal: stopRequested });
    supervisor = new Supervisor(argv, spec, { env: () => envWatch.envForStart(), ...childHooks(spec, argv, agent, new ExecMetrics(agent.metrics.registry, () => supervisor?.status() ?? null), log) });
    await supervisor.start();
    envWatch.start();
    await Promise.race([supervisor.done.catch(() => undefined), stopped]);
    const sig: NodeJS.Signals | null = stopRequested;
    return sig === null ? await supervisor.done : await stopInOrder(agent, supervisor, spec, sig, log);
  } finally {
    if (reaper) {
      reaper.stop();
      log.info({ reaped: reaper.reaped }, 'orphan reaper stopped');
    }
    await envWatch.stop();
    await agent.close();
    // Only now: a SIGTERM while the agent deregisters must not kill tether with 143 instead of the child's code.
    removeSignals();
  }
}

/** What the supervisor's events do: metrics, logs, and the child's service (registered while it runs). */
function childHooks(spec: ExecSpec, argv: readonly string[], agent: Agent, metrics: ExecMetrics, log: Logger): Omit<SupervisorHooks, 'env'> {
  return {
    onStart: (child) => {
      metrics.starts.inc();
      metrics.running.set(1);
      log.info({ pid: child.pid, command: argv }, 'child started');
      if (spec.service) agent.addService(spec.service);
    },
    onExit: (exit, reason) => {
      metrics.running.set(0);
      if (spec.service) agent.removeService(spec.service.id);
      log.info({ ...exit, reason }, 'child exited');
    },
    onCrash: (n, delayMs) => {
      metrics.crashLoop.set(n >= 2 ? 1 : 0);
      metrics.consecutiveCrashes.set(n);
      metrics.restarts.inc({ reason: 'crash' });
      log.warn({ consecutive: n, delayMs }, n >= 2 ? 'child crash loop: restarting after a delay' : 'child crashed: restarting after a delay');
    },
    onChangeAction: (a) => {
      if (a.kind === 'restart') metrics.restarts.inc({ reason: 'change' });
      log.info({ action: a.kind === 'signal' ? a.signal : a.kind }, 'change: acting on the child');
    },
  };
}

/** The shutdown order: deregister everything (agent.close), wait the drain delay, then pass the signal to the child. */
async function stopInOrder(agent: Agent, supervisor: Supervisor, spec: ExecSpec, sig: NodeJS.Signals, log: Logger): Promise<number> {
  log.info({ signal: sig, drainMs: spec.drainMs }, 'shutting down: deregistering, then stopping the child');
  supervisor.beginShutdown();
  await agent.close();
  // A child that exits during the drain has nothing left to drain.
  const ac = new AbortController();
  if (spec.drainMs > 0) await Promise.race([sleep(spec.drainMs, ac.signal), supervisor.done.catch(() => undefined)]);
  ac.abort();
  return supervisor.shutdown(sig);
}

/**
 * As PID 1 (a container without an init), tether is the parent of every
 * orphan: Node reaps only what it spawned, so the addon reaps the rest
 * (src/lib/process-reaper.ts). Without the addon, a warning, as orphans would stay zombies.
 */
function startPid1Reaper(log: Logger): OrphanReaper | null {
  const addon = loadReaperAddon();
  if (addon === null) {
    log.warn('tether exec is PID 1 without its reaper addon (native/build.mjs): orphans of the child cannot be reaped; build it, or run under an init (tini, docker run --init)');
    return null;
  }
  log.debug('tether exec is PID 1: reaping orphans');
  return startOrphanReaper(addon, (err) => log.warn({ err: String(err) }, 'orphan reaper: a scan failed'));
}

async function loadValid(path: string, env: NodeJS.ProcessEnv): Promise<Manifest> {
  const { manifest, issues } = await loadManifest(path, env);
  if (!manifest) throw new TetherError('manifest.invalid', issues.map(formatIssue).join('\n'));
  return manifest;
}
