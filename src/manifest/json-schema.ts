import * as z from 'zod';
import { manifestSchema } from './schema.js';

/**
 * A `${VAR}` or `${VAR:-default}` reference somewhere in a string (`$${...}`,
 * the escaped form, is left out). The manifest expands them before it
 * validates, so the editor's schema must let them through where the expanded
 * value is checked: numbers, booleans, durations, patterns, enums, URLs.
 */
export const INTERPOLATION_PATTERN = '(^|[^$])\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}';

const interpolated = { type: 'string', pattern: INTERPOLATION_PATTERN, description: 'A ${VAR} reference, checked once expanded.' };

/**
 * The manifest's JSON Schema, generated from the same zod schema the
 * validator uses, for editors (yaml-language-server). Written to
 * schema/tether.schema.json by `npm run schema`; a test keeps the two in step.
 */
export function manifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(manifestSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...acceptInterpolation(schema), title: 'Tether agent manifest' };
}

/** The schema file's exact text (stable key order, trailing newline). */
export function manifestJsonSchemaText(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}

type Node = Record<string, unknown>;

/**
 * Every value the schema constrains beyond "a string" (a number, a boolean,
 * a pattern, a format, an enum, a maximum length) also accepts a `${VAR}`
 * string (a minimum length needs no branch: `${X}` is four characters).
 * Map keys are left alone: the manifest never expands a key.
 */
function acceptInterpolation(node: Node): Node {
  const out: Node = { ...node };
  if (isNode(out.properties)) out.properties = mapValues(out.properties, visit);
  if (isNode(out.items)) out.items = visit(out.items);
  if (isNode(out.additionalProperties)) out.additionalProperties = visit(out.additionalProperties);
  if (Array.isArray(out.anyOf)) {
    const alts = (out.anyOf as Node[]).map((alt) => (constrained(alt) ? alt : acceptInterpolation(alt)));
    // One `${VAR}` branch for the union, not one per member.
    out.anyOf = alts.some(constrained) ? [...alts, interpolated] : alts;
  }
  return out;
}

/** A property, item or value: wrapped in `anyOf [itself, ${VAR}]` when it is a constrained scalar. */
function visit(node: Node): Node {
  if (!constrained(node)) return acceptInterpolation(node);
  // Editors show the description and default of the outer schema on hover.
  const { description, default: dflt, ...inner } = node;
  return { anyOf: [inner, interpolated], ...(description === undefined ? {} : { description }), ...(dflt === undefined ? {} : { default: dflt }) };
}

function constrained(node: Node): boolean {
  if (node.type === 'number' || node.type === 'integer' || node.type === 'boolean') return true;
  if (node.type !== 'string') return false;
  return ['pattern', 'format', 'enum', 'const', 'maxLength'].some((k) => k in node);
}

function isNode(v: unknown): v is Node {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function mapValues(obj: Node, fn: (v: Node) => Node): Node {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, isNode(v) ? fn(v) : v]));
}
