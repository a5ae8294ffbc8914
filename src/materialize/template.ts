import { readFileSync, realpathSync, statSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, extname, resolve, sep } from 'node:path';
import { Liquid, LiquidError, type FS, type Template } from 'liquidjs';
import { TetherError } from '../lib/errors.js';
import { shapeOf, type RenderData } from './render.js';

/**
 * Templates are data, never code: LiquidJS (no JavaScript in templates) with
 *
 * - `strictVariables`: a missing key is an error (`template.error`), never an
 *   empty string in a config file, unless the template gives a default:
 *   `{{ tuning.max_fails | default: 3 }}`. LiquidJS only lets `default` see an
 *   undefined variable under `lenientIf`, which is therefore on; it also lets
 *   `{% if tuning.max_fails %}` test for a key (a missing one is false). A
 *   missing key anywhere else still fails.
 * - `strictFilters`: an unknown filter is an error, not a no-op.
 * - `ownPropertyOnly`: no `constructor`, `__proto__` or other inherited names.
 * - includes (`include`, `render`, `layout`) resolve only to files inside the
 *   template's own directory. Chosen how: one engine per template directory
 *   (engines share these options; a directory is a root) with `root`,
 *   `partials` and `layouts` set to that directory, `relativeReference: false`,
 *   and our own `fs` whose `contains` compares real paths (a symlink pointing
 *   out is refused) and which has no `fallback` (LiquidJS's Node fs would also
 *   try `require.resolve`). `/etc/passwd` or `../x` fail as "not found".
 * - limits on template size, render time and allocations, so a template cannot
 *   hang or exhaust the agent.
 *
 * Parsed templates are cached by path and re-read when the file's mtime, size
 * or inode changes (checked by a stat on each render), or after `invalidate`.
 * Partials are not cached: they are read on each render, so an edit to an
 * included file shows up too.
 */

const LIMITS = {
  /** Characters parsed per template (and per partial). */
  parseLimit: 10_000_000,
  /** Milliseconds per render. */
  renderLimit: 5_000,
  /** LiquidJS's allocation counter (string and array building). */
  memoryLimit: 200_000_000,
} as const;

/** What a template sees. See `describeContext`. */
export type TemplateContext = Record<string, unknown> & { tether: { file: string } };

/**
 * The context of a template render: what a template sees.
 *
 * - each named source, by its name:
 *   - a key -> its value, a string: `{{ db_host }}`
 *   - a namespace -> an object of values by relative key, sorted:
 *     `{{ tuning.max_fails }}`, `{{ tuning["sub/key"] }}`,
 *     `{% for kv in tuning %}{{ kv[0] }}={{ kv[1] }}{% endfor %}`
 *   - services -> an array of `{ id, tags, metadata }` sorted by id:
 *     `{% for s in api %}server {{ s.metadata.address }};{% endfor %}`
 * - `tether.file`: the destination path of the file being rendered.
 *
 * Nothing time-dependent (no render timestamp): unchanged data must give
 * unchanged bytes. An unnamed source has no name here; the caller names it
 * (the manifest decides how). Throws `template.error` for a source named `tether`.
 */
export function describeContext(file: string, sources: ReadonlyArray<{ name: string; data: RenderData }>): TemplateContext {
  const entries: Array<[string, unknown]> = [];
  for (const { name, data } of sources) {
    if (name === 'tether') throw new TetherError('template.error', `${file}: a source may not be named "tether" (reserved)`);
    entries.push([name, shapeOf(data)]);
  }
  return { ...Object.fromEntries(entries), tether: { file } };
}

/** An engine per template directory, and the text of every file it read (by path). */
interface Engine {
  liquid: Liquid;
  texts: Map<string, string>;
}

interface Cached {
  /** mtime (ns), size and inode when parsed: a change to any means re-read. */
  stamp: string;
  templates: Template[];
}

/** Renders LiquidJS templates from files, sandboxed and cached (see the module comment). */
export class Templates {
  private readonly engines = new Map<string, Engine>();
  private readonly cache = new Map<string, Cached>();

  /**
   * The rendered text of the template at `templatePath` with `context`.
   * Throws `template.error` for a template that cannot be read or parsed, a
   * missing variable, an unknown filter or a refused include; the message is
   * `file:line:col: what` (the file being the template or the partial at
   * fault), never a stack.
   */
  async render(templatePath: string, context: Record<string, unknown>): Promise<string> {
    const path = resolve(templatePath);
    const engine = this.engineFor(dirname(path));
    const templates = await this.load(engine, path);
    try {
      return await engine.liquid.render(templates, context);
    } catch (err) {
      throw templateError(path, err, engine.texts);
    }
  }

  /** Forgets the parsed template at `templatePath` (the watcher calls this on a change). */
  invalidate(templatePath: string): void {
    this.cache.delete(resolve(templatePath));
  }

  private engineFor(dir: string): Engine {
    let engine = this.engines.get(dir);
    if (engine === undefined) {
      const texts = new Map<string, string>();
      const liquid = new Liquid({
        root: [dir],
        partials: [dir],
        layouts: [dir],
        relativeReference: false,
        fs: confinedFs(texts),
        cache: false,
        strictVariables: true,
        strictFilters: true,
        ownPropertyOnly: true,
        lenientIf: true,
        ...LIMITS,
      });
      engine = { liquid, texts };
      this.engines.set(dir, engine);
    }
    return engine;
  }

  private async load(engine: Engine, path: string): Promise<Template[]> {
    let stamp: string;
    let text: string;
    try {
      const st = await stat(path, { bigint: true });
      stamp = `${st.mtimeNs}:${st.size}:${st.ino}`;
      const cached = this.cache.get(path);
      if (cached !== undefined && cached.stamp === stamp) return cached.templates;
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new TetherError('template.error', `${path}: cannot read template: ${typeof code === 'string' ? code : String(err)}`, { cause: err });
    }
    engine.texts.set(path, text);
    let templates: Template[];
    try {
      templates = engine.liquid.parse(text, path);
    } catch (err) {
      throw templateError(path, err, engine.texts);
    }
    this.cache.set(path, { stamp, templates });
    return templates;
  }
}

/**
 * LiquidJS's file system, confined: only regular files whose real path is
 * inside the root resolve. `texts` records what each file read held: LiquidJS
 * reports an error's position but not the partial it sits in, so the error
 * message finds the file by its text.
 */
function confinedFs(texts: Map<string, string>): FS {
  const contains = async (root: string, file: string): Promise<boolean> => {
    try {
      return isInside(await realpath(root), await realpath(file));
    } catch {
      return false;
    }
  };
  const containsSync = (root: string, file: string): boolean => {
    try {
      return isInside(realpathSync(root), realpathSync(file));
    } catch {
      return false;
    }
  };
  const remember = (file: string, text: string): string => {
    texts.set(file, text);
    return text;
  };
  return {
    exists: async (file) => (await stat(file).catch(() => null))?.isFile() ?? false,
    existsSync: (file) => statSync(file, { throwIfNoEntry: false })?.isFile() ?? false,
    readFile: async (file) => remember(file, await readFile(file, 'utf8')),
    readFileSync: (file) => remember(file, readFileSync(file, 'utf8')),
    resolve: (dir, file, ext) => resolve(dir, extname(file) === '' ? file + ext : file),
    contains,
    containsSync,
    dirname,
    sep,
  };
}

/** The file whose text is `input`: the template itself first, else the partial that held it. */
function fileOf(input: string, path: string, texts: ReadonlyMap<string, string>): string {
  if (texts.get(path) === input) return path;
  for (const [file, text] of texts) if (text === input) return file;
  return path;
}

function isInside(root: string, file: string): boolean {
  return file.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * `file:line:col: what` from a LiquidJS error: the innermost LiquidError
 * (an error inside an include is wrapped by the include's), its token's
 * position, and its message without LiquidJS's `, file:…, line:…, col:…` tail.
 */
function templateError(path: string, err: unknown, texts: ReadonlyMap<string, string>): TetherError {
  let inner: unknown = err;
  while (LiquidError.is(inner) && LiquidError.is((inner as LiquidError).originalError)) {
    inner = (inner as LiquidError).originalError;
  }
  if (!LiquidError.is(inner)) {
    const message = inner instanceof Error ? inner.message : String(inner);
    return new TetherError('template.error', `${path}: ${message}`, { cause: err });
  }
  const liquidErr = inner as LiquidError;
  const token = liquidErr.token;
  const [line, col] = token.getPosition();
  const where = token.file ?? fileOf(token.input, path, texts);
  const original = liquidErr.originalError;
  const what = original instanceof Error && original.message !== '' ? original.message : liquidErr.message.replace(/(, file:.*)?, line:\d+, col:\d+$/s, '');
  return new TetherError('template.error', `${where}:${line}:${col}: ${what}`, { cause: err });
}
