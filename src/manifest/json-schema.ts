import * as z from 'zod';
import { manifestSchema } from './schema.js';

/**
 * The manifest's JSON Schema, generated from the same zod schema the
 * validator uses, for editors (yaml-language-server). Written to
 * schema/tether.schema.json by `npm run schema`; a test keeps the two in step.
 */
export function manifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(manifestSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'Tether agent manifest' };
}

/** The schema file's exact text (stable key order, trailing newline). */
export function manifestJsonSchemaText(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}
