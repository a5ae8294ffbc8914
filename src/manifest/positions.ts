import type { EventType, State } from 'js-yaml';

/**
 * Where each node of a YAML document starts, rebuilt from js-yaml's
 * `listener` events: issue positions (file:line:column) and each service's
 * `origin` come from here.
 *
 * Why js-yaml rather than `yaml`'s parseDocument with a LineCounter: for a
 * 500-service manifest (96 KB), in a fresh process, `yaml` took 48 ms to
 * import and 260-330 ms to parse; js-yaml (CORE_SCHEMA) 13 ms and ~50 ms, and
 * that parse dominated the agent's start-up. js-yaml keeps no node tree, so
 * this module records the little of one that positions need.
 *
 * What the events are (js-yaml 4 internals, checked against 4.1.1 and
 * 4.3.2): 'open' fires where the parser starts composing a node, which may be
 * before whitespace, comments, anchors or tags; 'close' carries the node's
 * `kind` and `result`. A block context reading a flow collection wraps it in a
 * node with the same result; a failed implicit-key read leaves an empty node;
 * empty sequence entries are never composed, and an empty mapping value may
 * not be either. So keys are told from values by the `:` after an implicit
 * key, sequence entries by their `-` indicators, and each collection is
 * checked against its result: when they disagree, it keeps only its own
 * position (an issue inside it points at the collection, never elsewhere).
 * Recording adds ~20 ms to that parse; pairing is left to the first
 * lookup, since a valid manifest looks up little more than its services
 * (and the loader's first pass records only the levels those are at: see
 * SHALLOW_POSITIONS in load.ts).
 */

/**
 * One node: where it starts and, for a collection, its children, paired into
 * keys and entries on first use (a valid manifest asks for few of them).
 */
export class PosNode {
  /** Offsets where 'open' and 'close' fired, clamped to the text. */
  open = 0;
  end = 0;
  kind: string | null = null;
  result: unknown = null;
  /** Nothing was read: an empty value, or a failed key read. */
  empty = false;
  children: PosNode[] | null = null;
  private keyMap: Map<string, { key: number; value: PosNode }> | null | undefined;
  private itemList: PosNode[] | null | undefined;

  /** `start`: the offset of the node's first character (after anchors and tags). */
  constructor(
    private readonly text: string,
    public start: number,
  ) {}

  /**
   * The node of the value at `seg` (a mapping) or of entry `seg` (a
   * sequence); undefined when there is none, or when this collection's
   * children could not be matched with its result.
   */
  child(seg: string | number): PosNode | undefined {
    if (this.kind === 'mapping') return this.keys()?.get(String(seg))?.value;
    if (this.kind === 'sequence' && typeof seg === 'number') return this.items()?.[seg];
    return undefined;
  }

  /** The offset of key `name` in this mapping, or undefined. */
  keyStart(name: string): number | undefined {
    return this.kind === 'mapping' ? this.keys()?.get(name)?.key : undefined;
  }

  private keys(): Map<string, { key: number; value: PosNode }> | null {
    if (this.keyMap === undefined) this.keyMap = isObject(this.result) ? pairKeys(this.text, this.children ?? [], this.result as Record<string, unknown>) : null;
    return this.keyMap;
  }

  private items(): PosNode[] | null {
    if (this.itemList === undefined) {
      const { text, start, end, result } = this;
      const children = this.children ?? [];
      if (!Array.isArray(result)) this.itemList = null;
      else this.itemList = text[start] === '[' ? flowItems(children, result) : blockItems(text, start, end, children, result);
    }
    return this.itemList;
  }
}

/**
 * Collects one position tree per document from js-yaml's `listener` events.
 * With `maxDepth`, only nodes that many levels below the root (the root is
 * level 0) are recorded: a collection whose children were not recorded pairs
 * none of them, so a lookup below it stops there (`child` is undefined).
 */
export class PositionRecorder {
  /** Each document's root (its `end` is where the document ended). */
  readonly documents: PosNode[] = [];
  private readonly stack: PosNode[] = [];
  /** Open nodes below maxDepth (not recorded). */
  private skipped = 0;

  constructor(
    private readonly text: string,
    private readonly maxDepth = Number.POSITIVE_INFINITY,
  ) {}

  /** Pass as js-yaml's `listener` option. */
  readonly listener = (event: EventType, state: State): void => {
    if (event === 'open') {
      if (this.skipped > 0 || this.stack.length > this.maxDepth) {
        this.skipped++;
        return;
      }
      const node = new PosNode(this.text, 0);
      node.open = state.position;
      this.stack.push(node);
      return;
    }
    if (this.skipped > 0) {
      this.skipped--;
      return;
    }
    const node = this.stack.pop();
    if (node === undefined) return;
    const done = this.close(node, state.position, state.kind, state.result);
    const parent = this.stack[this.stack.length - 1];
    if (parent !== undefined) (parent.children ??= []).push(done);
    else {
      // An empty document (comments only) is located at its first character, as `yaml` did.
      if (done.empty) done.start = 0;
      this.documents.push(done);
    }
  };

  /** Completes `node`, or returns its only child when `node` merely wraps it. */
  private close(node: PosNode, close: number, kind: string | null, result: unknown): PosNode {
    const text = this.text;
    const end = Math.min(close, text.length);
    const open = Math.min(node.open, end);
    const only = node.children?.length === 1 ? node.children[0] : undefined;
    const kept = only !== undefined && isObject(result) && only.result === result && only.kind === kind ? only : node;
    kept.open = open;
    kept.end = end;
    if (kept !== node) return kept;
    node.kind = kind;
    node.result = result;
    node.start = contentStart(text, open, end);
    if (node.start >= end) {
      node.empty = true;
      node.start = skipSpaces(text, open);
    }
    return node;
  }
}

/**
 * Pairs a mapping's children into keys and values. A child is a key when a
 * value is not expected, or when a `:` follows it (the previous key's value
 * was empty and not composed). Returns null when the pairs do not match
 * `result`.
 */
function pairKeys(text: string, children: PosNode[], result: Record<string, unknown>): Map<string, { key: number; value: PosNode }> | null {
  const keys = new Map<string, { key: number; value: PosNode }>();
  let trusted = true;
  const add = (key: PosNode, value: PosNode | null): void => {
    const name = String(key.result);
    const colon = colonAfter(text, key.end);
    if (value ? !Object.is(value.result, result[name]) : result[name] !== null) trusted = false;
    keys.set(name, { key: key.start, value: value ?? new PosNode(text, colon < 0 ? key.start : skipSpaces(text, colon + 1)) });
  };
  let pending: PosNode | null = null;
  for (const child of children) {
    const keyLike = colonAfter(text, child.end) >= 0;
    if (pending !== null && !keyLike) {
      add(pending, child);
      pending = null;
    } else if (pending !== null || !child.empty || keyLike) {
      if (pending !== null) add(pending, null);
      pending = child;
    }
  }
  if (pending !== null) add(pending, null);
  const names = Object.keys(result);
  if (!trusted || names.length !== keys.size || !names.every((n) => keys.has(n))) return null;
  return keys;
}

function flowItems(children: PosNode[], result: unknown[]): PosNode[] | null {
  if (children.length !== result.length || !children.every((c, i) => Object.is(c.result, result[i]))) return null;
  return children;
}

/**
 * A block sequence's entries. Between two composed entries there is only
 * whitespace, comments and `-` indicators: the last indicator belongs to the
 * next entry, any before it to empty (null) entries, which js-yaml does not
 * compose. An empty entry is located just after its `-`, as `yaml` did.
 */
function blockItems(text: string, start: number, end: number, children: PosNode[], result: unknown[]): PosNode[] | null {
  const items: PosNode[] = [];
  const addEmpty = (dashes: number[]): boolean => {
    for (const d of dashes) {
      if (result[items.length] !== null) return false;
      items.push(new PosNode(text, skipSpaces(text, d + 1)));
    }
    return true;
  };
  let at = start;
  for (const child of children) {
    const dashes = dashesIn(text, at, child.open);
    if (dashes.pop() === undefined || !addEmpty(dashes)) return null;
    if (!Object.is(child.result, result[items.length])) return null;
    items.push(child);
    at = child.end;
  }
  if (!addEmpty(dashesIn(text, at, end)) || items.length !== result.length) return null;
  return items;
}

/** Offsets of the `-` indicators in [from, to), a stretch of blanks, comments and indicators. */
function dashesIn(text: string, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    const ch = text[i];
    if (ch === '#') i = lineEnd(text, i, to);
    else if (ch === '-') out.push(i);
  }
  return out;
}

/** The first offset in [from, end) past blanks, comments, anchors and tags; `end` when there is none. */
function contentStart(text: string, from: number, end: number): number {
  let i = from;
  while (i < end) {
    const ch = text[i];
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') i++;
    else if (ch === '#') i = lineEnd(text, i, end);
    else if (ch === '&' || ch === '!') while (i < end && !isBlank(text[i])) i++;
    else break;
  }
  return Math.min(i, end);
}

function lineEnd(text: string, from: number, limit: number): number {
  const nl = text.indexOf('\n', from);
  return nl === -1 || nl > limit ? limit : nl;
}

/** The offset of the `:` after `from` and any spaces, or -1. */
function colonAfter(text: string, from: number): number {
  const i = skipSpaces(text, from);
  return text[i] === ':' ? i : -1;
}

function skipSpaces(text: string, from: number): number {
  let i = Math.min(from, text.length);
  while (text[i] === ' ' || text[i] === '\t') i++;
  return i;
}

function isBlank(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null;
}

/** Offsets to 1-based line and column, by binary search over the line starts. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(private readonly text: string) {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  /** The line and column of `offset`, clamped to the text (the end of the text counts). */
  position(offset: number): { line: number; column: number } {
    const at = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= at) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: at - (this.starts[lo] as number) + 1 };
  }
}
