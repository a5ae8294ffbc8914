import { queueFault } from '../../queues/faults.js';
import { markWireChecked, MAX_JSON_DEPTH } from '../../queues/validation.js';

/**
 * JSON request bodies (spec 2.5). JSON.parse does the parsing; what it
 * cannot tell us (Node 20 has no reviver source text) comes from one scan of
 * the number literals, run only when the text could hold something to find:
 * - an integer literal outside signed 64 bits anywhere -> invalidBody (the
 *   upstream server refused them; JSON.parse would round them silently);
 * - `ttl` / `grace` written with a fraction or exponent (`300.0`, `3e2`) ->
 *   invalidBody: they must be JSON integers, and JSON.parse makes 300.0 === 300;
 * - a number too large for a double (`1e400`) anywhere -> invalidBody: JSON.parse
 *   makes it Infinity, which would be stored as null.
 * Nesting deeper than MAX_JSON_DEPTH -> invalidBody, found on the text before
 * anything recurses over the value (JSON.stringify would throw RangeError).
 */

/** Where the typed integer fields sit: a claim body `{ttl, grace}`, or a post's `[{ttl, ...}, ...]`. */
export type BodyShape = 'claim' | 'messages' | 'any';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A number written with an exponent (`1e20`, `1.5e-5`) can take more bytes
 * once parsed and serialized again (`100000000000000000000`), the form it is
 * stored in: such a body is not marked as checked on the wire, so the domain
 * counts its serialized bytes (a match inside a string only costs that count).
 */
const EXPONENT = /[:[,]\s*-?\d+(?:\.\d+)?[eE]/;

/**
 * Undefined for an empty body; the parsed value otherwise. Throws invalidBody.
 * With `wireCap` (the byte cap the HTTP layer counted the body against), the
 * value is marked as checked on the wire (markWireChecked) unless it could
 * grow when serialized again.
 */
export function parseJsonBody(parts: readonly Buffer[] | null, length: number, shape: BodyShape, wireCap?: number): unknown {
  if (parts === null || length === 0) return undefined;
  const buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, length);
  let text: string;
  let value: unknown;
  try {
    text = decoder.decode(buf);
    value = JSON.parse(text) as unknown;
  } catch {
    throw queueFault('invalidBody', 'Request body could not be parsed.');
  }
  // A document needs 2 * (depth) brackets: shorter texts cannot nest too deeply.
  if (text.length > 2 * MAX_JSON_DEPTH && nestsDeeper(text, MAX_JSON_DEPTH)) {
    throw queueFault('invalidBody', `JSON documents may not nest deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  // Cheap guards: no 19-digit run means no int64 overflow; a typed field's float literal follows a
  // colon (`"ttl": 3.0`), so without `: 3.` or `: 3e` there is none (a bare `\d[.eE]` matched
  // every host name and version string in a body, and made the walk run on most posts).
  const big = /\d{19}/.test(text);
  const floats = shape !== 'any' && /:\s*-?\d+[.eE]/.test(text);
  const exponent = EXPONENT.test(text);
  if (big || floats || exponent) checkNumbers(text, shape);
  if (wireCap !== undefined && !exponent) markWireChecked(value, wireCap);
  return value;
}

const INT64_MAX = '9223372036854775807';
const INT64_MIN_ABS = '9223372036854775808';

/** True when the integer literal `lit` (optional `-`, digits) is outside int64. */
export function outsideInt64(lit: string): boolean {
  const negative = lit.charCodeAt(0) === 45;
  const digits = (negative ? lit.slice(1) : lit).replace(/^0+(?=\d)/, '');
  if (digits.length !== 19) return digits.length > 19;
  return digits > (negative ? INT64_MIN_ABS : INT64_MAX);
}

interface Frame {
  array: boolean;
  key: string | undefined;
}

function typedPosition(stack: readonly Frame[], shape: BodyShape): boolean {
  const top = stack[stack.length - 1];
  if (top === undefined || top.array) return false;
  if (shape === 'claim') return stack.length === 1 && (top.key === 'ttl' || top.key === 'grace');
  return shape === 'messages' && stack.length === 2 && stack[0]?.array === true && top.key === 'ttl';
}

/** Walks valid JSON `text` once, tracking containers and keys, and throws on the number literals above. */
function checkNumbers(text: string, shape: BodyShape): void {
  const stack: Frame[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (expectKey && top !== undefined) {
        const raw = text.slice(i, end + 1);
        top.key = raw.indexOf('\\') === -1 ? raw.slice(1, -1) : (JSON.parse(raw) as string);
        expectKey = false;
      }
      i = end;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      stack.push({ array: c === 91, key: undefined });
      expectKey = c === 123;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      stack.pop();
    } else if (c === 44 /* , */) {
      expectKey = stack[stack.length - 1]?.array === false;
    } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j] as string)) j++;
      const lit = text.slice(i, j);
      const integer = !/[.eE]/.test(lit);
      if (integer && outsideInt64(lit)) throw queueFault('invalidBody', 'JSON contains integer that is too large.');
      if (!integer && typedPosition(stack, shape)) throw queueFault('invalidBody', `"${stack[stack.length - 1]?.key}" must be an integer.`);
      // 1e400 parses as Infinity and would be stored as null: refused, as integers beyond 64 bits are.
      if (!integer && !Number.isFinite(Number(lit))) throw queueFault('invalidBody', 'JSON contains number that is too large.');
      i = j - 1;
    }
  }
}

/** True when valid JSON `text` opens more than `max` containers at once (strings skipped). */
function nestsDeeper(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) i = stringEnd(text, i);
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) return true;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return false;
}

/** Index of the closing quote of the string starting at `start`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q === -1) return text.length;
    let slashes = 0;
    for (let k = q - 1; text.charCodeAt(k) === 92; k--) slashes++;
    if (slashes % 2 === 0) return q;
    i = q + 1;
  }
}
