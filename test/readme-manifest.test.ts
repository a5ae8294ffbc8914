import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestJsonSchema } from '../src/manifest/json-schema.js';

/**
 * The README's manifest reference stays in step with the JSON Schema (which
 * is generated from the validator's zod schema): every field of the schema is
 * documented, as a row or inside its parent's row, and every row names a field
 * that exists.
 */

const root = join(import.meta.dirname, '..');

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  additionalProperties?: SchemaNode | boolean;
}

/** Every field path of the schema: `upstream.url`, `services[].check.http.url`, `actions.*.exec`... */
function schemaPaths(node: SchemaNode, path = '', out = new Set<string>()): Set<string> {
  for (const alt of [...(node.anyOf ?? []), ...(node.oneOf ?? [])]) schemaPaths(alt, path, out);
  if (node.items) schemaPaths(node.items, `${path}[]`, out);
  for (const [k, v] of Object.entries(node.properties ?? {})) {
    const p = path === '' ? k : `${path}.${k}`;
    out.add(p);
    schemaPaths(v, p, out);
  }
  if (typeof node.additionalProperties === 'object' && path === 'actions') {
    out.add(`${path}.*`);
    schemaPaths(node.additionalProperties, `${path}.*`, out);
  }
  return out;
}

/** The rows of the README's manifest reference tables: field paths (normalized) -> the row's text. */
async function readmeRows(): Promise<Map<string, string>> {
  const text = await readFile(join(root, 'README.md'), 'utf8');
  const section = text.slice(text.indexOf('### Manifest reference'), text.indexOf('### Local API'));
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const field = line.split('|')[1] as string;
    const names = [...field.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
    const first = normalize(names[0] as string);
    rows.set(first, line);
    // `upstream.tls.ca_file` / `cert_file` / `key_file`: siblings of the first.
    for (const sibling of names.slice(1)) rows.set(`${first.slice(0, first.lastIndexOf('.') + 1)}${sibling}`, line);
  }
  return rows;
}

function normalize(name: string): string {
  if (name.startsWith('check.')) return `services[].${name}`;
  if (name === 'actions.NAME') return 'actions.*';
  return name;
}

describe('README manifest reference', () => {
  it('documents every field of the JSON Schema, and nothing that is not in it', async () => {
    // `checks[]` holds the same fields as `check`: documented once, as `check.*`.
    const paths = new Set([...schemaPaths(manifestJsonSchema() as SchemaNode)].map((p) => p.replace('.checks[].', '.check.')));
    const rows = await readmeRows();
    const actionRow = rows.get('actions.*') ?? '';
    const undocumented: string[] = [];
    for (const p of paths) {
      if (rows.has(p)) continue;
      // Containers (upstream, services, upstream.tls...) are documented by their fields' rows.
      if ([...rows.keys()].some((r) => r.startsWith(`${p}.`) || r.startsWith(`${p}[]`))) continue;
      // A sub-field is named in the row of its nearest documented parent (actions in the actions row).
      const parts = p.split('.');
      const leaf = (parts.at(-1) as string).replace('[]', '');
      let parent = parts.slice(0, -1).join('.');
      while (parent !== '' && !rows.has(parent)) parent = parent.slice(0, Math.max(0, parent.lastIndexOf('.')));
      const parentRow = rows.get(parent) ?? '';
      const inActions = /action/.test(parentRow.split('|')[2] ?? '') || parent === 'actions.*';
      const where = inActions ? `${parentRow}${actionRow}` : parentRow;
      if (!new RegExp(`\\b${leaf}\\b`).test(where)) undocumented.push(p);
    }
    expect(undocumented).toEqual([]);
    const unknown = [...rows.keys()].filter((r) => !paths.has(r));
    expect(unknown).toEqual([]);
  });
});
