import { TetherError } from '../lib/errors.js';

/** The agent's local API as the CLI reaches it: --agent URL (env TETHER_AGENT), --token (env TETHER_AGENT_TOKEN). */
export const DEFAULT_AGENT = 'http://127.0.0.1:8471';

export const agentOptions = {
  agent: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface AgentTarget {
  agent?: string | undefined;
  token?: string | undefined;
}

/**
 * GETs a JSON document from the local API. Rejects with `client.unreachable`
 * (exit 3) when nothing answers within 10 s, and `agent.refused` with the
 * agent's own message for a non-2xx reply. The token goes in a header and
 * never into a message.
 */
export async function agentGet(target: AgentTarget, path: string, env = process.env): Promise<unknown> {
  const base = (target.agent ?? env.TETHER_AGENT ?? DEFAULT_AGENT).replace(/\/+$/, '');
  const token = target.token ?? env.TETHER_AGENT_TOKEN;
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new TetherError('client.unreachable', `cannot reach the agent at ${base} (${cause})`);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.trim();
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? message;
    } catch {
      // not JSON: the text itself
    }
    throw new TetherError('agent.refused', `the agent refused ${path} (${res.status}): ${message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new TetherError('agent.badReply', `the agent's reply to ${path} is not JSON`);
  }
}
