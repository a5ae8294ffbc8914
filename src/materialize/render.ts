import { Document, parse as parseYaml, Scalar, visit } from 'yaml';
import { TetherError } from '../lib/errors.js';

/**
 * The built-in formats: data in, the file's exact bytes out. Pure and
 * deterministic (every list and map is sorted), so unchanged data renders to
 * unchanged bytes and the writer leaves the file alone.
 *
 * Shapes, per format and source kind (the README copies this table):
 *
 * | format | key `value`          | namespace `{listen_ip: "10.0.0.1", "sub/key": "v"}` | services                        |
 * | ------ | -------------------- | --------------------------------------------------- | ------------------------------- |
 * | raw    | the value verbatim, no newline added | error `render.unsupported`           | error `render.unsupported`      |
 * | json   | a JSON string + `\n` | `{"listen_ip": "10.0.0.1", "sub/key": "v"}`: keys sorted, 2-space indent, `\n` | `[{"id", "tags", "metadata"}]` sorted by id, metadata keys sorted |
 * | yaml   | a YAML string        | a mapping, keys sorted                              | a sequence of {id, tags, metadata} sorted by id |
 * | env    | error `render.unsupported` | `LISTEN_IP='10.0.0.1'` and `SUB_KEY='v'`, lines sorted, `\n` after each | error `render.unsupported` |
 *
 * Namespace keys are relative to the namespace and stay flat (`sub/key` is one
 * key, not a nested map). Tags keep the registry's order (they are data).
 *
 * YAML: the `yaml` library's YAML 1.2 output, with one addition: a string that
 * a YAML 1.1 reader (PyYAML, Go's yaml.v2) would read as something else (`on`,
 * `yes`, `0o17`, `1:20`, `2024-01-01`, `~`) is double-quoted, so every reader
 * gets the string back. Long lines are never folded.
 *
 * env: NAME is the relative key with every character other than A-Z, a-z, 0-9
 * turned into `_`, upper-cased (`sub/key.port` -> `SUB_KEY_PORT`), with a `_`
 * prefix when it would not start with a letter or `_`. Two keys giving one NAME
 * are an error (`render.env_collision`), never a silent overwrite. Values are
 * single-quoted for a POSIX shell (`'` becomes `'\''`); newlines stay literal
 * inside the quotes, so the file is meant to be sourced by `sh` (`. file`),
 * and tools that read one NAME=value per line see such a value split.
 */

export type RenderData =
  | { kind: 'key'; value: string }
  /** `values` keys are relative to the namespace, e.g. `listen_ip` or `sub/key`. */
  | { kind: 'namespace'; namespace: string; values: Record<string, string> }
  | { kind: 'services'; services: ServiceView[] };

export interface ServiceView {
  id: string;
  tags: string[];
  metadata: Record<string, string>;
}

export type BuiltinFormat = 'raw' | 'json' | 'yaml' | 'env';

/** The file's content. Throws `render.unsupported` or `render.env_collision` (see the table above). */
export function renderFormat(format: BuiltinFormat, data: RenderData): string {
  switch (format) {
    case 'raw':
      if (data.kind !== 'key') throw unsupported(format, data);
      return data.value;
    case 'json':
      return `${JSON.stringify(shapeOf(data), null, 2)}\n`;
    case 'yaml':
      return renderYaml(shapeOf(data));
    case 'env':
      if (data.kind !== 'namespace') throw unsupported(format, data);
      return renderEnv(data.values);
  }
}

/**
 * The plain, sorted value a format serializes (also what a template sees):
 * a string, an object with sorted keys, or services sorted by id.
 */
export function shapeOf(data: RenderData): string | Record<string, string> | ServiceView[] {
  switch (data.kind) {
    case 'key':
      return data.value;
    case 'namespace':
      return sortedRecord(data.values);
    case 'services':
      return [...data.services]
        .sort((a, b) => compare(a.id, b.id))
        .map((s) => ({ id: s.id, tags: [...s.tags], metadata: sortedRecord(s.metadata) }));
  }
}

/** `Object.fromEntries` defines own properties, so a key named `__proto__` stays a plain key. */
function sortedRecord(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).sort(([a], [b]) => compare(a, b)));
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function renderYaml(shape: unknown): string {
  const doc = new Document(shape);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && readsDifferentlyInYaml11(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  return doc.toString({ lineWidth: 0 });
}

/**
 * True when `text`, written as a plain scalar, would not come back as the
 * same string from a YAML 1.1 reader. Only short single-token strings can
 * (YAML 1.1 booleans, nulls, sexagesimal and octal numbers, timestamps, `<<`);
 * anything else is left to the 1.2 stringifier, which already quotes
 * what 1.2 would misread.
 */
function readsDifferentlyInYaml11(text: string): boolean {
  if (text.length > 64 || !/^[-+.~<=\w][-+.:_\w ]*$/.test(text)) return false;
  try {
    return parseYaml(text, { version: '1.1', logLevel: 'silent' }) !== text;
  } catch {
    return true;
  }
}

function renderEnv(values: Record<string, string>): string {
  const byName = new Map<string, { key: string; value: string }>();
  for (const [key, value] of Object.entries(values)) {
    const name = envName(key);
    const other = byName.get(name);
    if (other !== undefined) {
      const [first, second] = [other.key, key].sort(compare);
      throw new TetherError('render.env_collision', `env: keys "${first}" and "${second}" both become ${name}`);
    }
    byName.set(name, { key, value });
  }
  const lines = [...byName.entries()].sort(([a], [b]) => compare(a, b)).map(([name, { value }]) => `${name}=${shellQuote(value)}\n`);
  return lines.join('');
}

/** `sub/key.port` -> `SUB_KEY_PORT`; `1st` -> `_1ST`. */
export function envName(key: string): string {
  const name = key.replace(/[^A-Za-z0-9]/g, '_').toUpperCase();
  return /^[A-Z_]/.test(name) ? name : `_${name}`;
}

/** Single quotes keep everything literal in a POSIX shell (`$`, backticks, `\`, newlines); only `'` needs closing and reopening. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function unsupported(format: BuiltinFormat, data: RenderData): TetherError {
  const what = data.kind === 'key' ? 'a single key' : data.kind === 'namespace' ? 'a namespace' : 'services';
  const use = data.kind === 'key' ? 'raw, json or yaml' : data.kind === 'namespace' ? 'json, yaml, env or a template' : 'json, yaml or a template';
  return new TetherError('render.unsupported', `format ${format} cannot render ${what}; use ${use}`);
}
