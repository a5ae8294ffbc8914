import { isAbsolute, relative } from 'node:path';
import { checksOf, type Manifest } from '../manifest/model.js';
import { DEFAULT_URL, UsageError } from './command.js';

/**
 * What `tether dev` tells a newcomer to try next, derived from the manifest
 * it runs (so the hints name real keys and files). Returns the lines, each a
 * shell command with an optional `# comment`; `base` is the registry URL
 * including the tenant, `api` the agent's local API, `cwd` what file paths
 * are shown relative to.
 */
export function devHints(manifest: Manifest, base: string, api: string, cwd: string): string[] {
  const url = base === DEFAULT_URL ? '' : ` --url ${base}`;
  const show = (path: string): string => {
    const rel = relative(cwd, path);
    return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
  };
  const hints = [`npx tether services list${url}   # the registered services`];
  for (const file of manifest.files) {
    const only = file.sources.length === 1 ? file.sources[0]?.source : undefined;
    if (only?.kind === 'key') {
      hints.push(`npx tether config set${url} ${only.key} hello && cat ${show(file.path)}   # a value, on disk at once`);
      break;
    }
  }
  const ttl = manifest.services.find((s) => checksOf(s).some((c) => c.probe.kind === 'ttl'));
  if (ttl) hints.push(`curl -X POST ${api}/v1/checks/${ttl.id}/pass   # report ${ttl.id}'s TTL check`);
  hints.push(`curl ${api}/v1/status   # the agent's view: health, registrations, files`);
  return hints;
}

/** `KEY=VALUE` (the value may hold `=`; the key may not be empty) -> [key, value]. */
export function parseSeed(text: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`--seed must be KEY=VALUE, got "${text}"`, 'dev');
  return [text.slice(0, at), text.slice(at + 1)];
}
