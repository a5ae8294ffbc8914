import { isAbsolute, resolve } from 'node:path';

/**
 * A command whose program is a relative path (`./reload.sh`, `bin/check`)
 * runs the one next to the manifest, whatever the agent's working directory
 * (systemd starts it in `/`). A bare name (`nginx`) is still looked up in
 * PATH, and the other arguments are left as written.
 */
export function commandAt(argv: readonly string[], baseDir: string): string[] {
  const [program, ...rest] = argv;
  if (program === undefined || !program.includes('/') || isAbsolute(program)) return [...argv];
  return [resolve(baseDir, program), ...rest];
}
