import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package version, read from the nearest package.json named `tether-sidecar`
 * above this file (the same code runs from src/ under tsx and from dist/).
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tether-sidecar' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no (readable) package.json here: keep going up
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}
