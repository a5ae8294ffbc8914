import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { manifestJsonSchemaText } from '../../src/manifest/json-schema.js';

describe('schema/tether.schema.json', () => {
  it('is exactly what the validator schema generates (run `npm run schema` after changing it)', async () => {
    const shipped = await readFile(new URL('../../schema/tether.schema.json', import.meta.url), 'utf8');
    expect(shipped).toBe(manifestJsonSchemaText());
  });

  it('forbids unknown keys and documents every field', async () => {
    const schema = JSON.parse(manifestJsonSchemaText()) as { additionalProperties: boolean; properties: Record<string, { description?: string }> };
    expect(schema.additionalProperties).toBe(false);
    for (const [key, prop] of Object.entries(schema.properties)) expect(prop.description, key).toBeTruthy();
  });
});
