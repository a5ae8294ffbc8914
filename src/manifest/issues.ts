/** One problem in a manifest, located at file:line:column with its dotted path. */
export interface ManifestIssue {
  file: string;
  line: number;
  column: number;
  /** Dotted path, e.g. `services[2].check.interval` (empty for the whole file). */
  path: string;
  message: string;
}

/** `file:line:column: path: message`, the form `tether validate` prints. */
export function formatIssue(i: ManifestIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** Renders a zod/structural path as `services[2].check.interval`. */
export function dottedPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}
