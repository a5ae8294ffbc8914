/**
 * Variables that carry the agent's own secrets. A child tether starts (the
 * `tether exec` application, probes, check commands, hooks, reload actions)
 * does not inherit them: with the local API token a hook or an application
 * could drive the agent (maintenance, status) as its operator. A manifest that
 * names one explicitly for a child (exec.env `name:`, an action's env) still
 * hands it over: only inheritance is cut.
 */
export const AGENT_SECRET_ENV: readonly string[] = ['TETHER_AGENT_TOKEN', 'TETHER_ETCD_PASSWORD'];

/** `base` (tether's own environment by default) without the agent's secrets: what a child inherits. */
export function inheritedEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of AGENT_SECRET_ENV) delete env[name];
  return env;
}
