import { spawn } from 'node:child_process';
import { cp, mkdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { track, userEnv } from './clean-copy.js';

/**
 * A Dockerfile, parsed and run without a Docker engine: each stage's
 * filesystem is a directory standing for its `/`, COPY copies into it, and
 * RUN runs the line with `sh -c` in the stage's WORKDIR on this host.
 *
 * What cannot run here is left out, on purpose and narrowly:
 * - `RUN apt-get ...` (the host provides the toolchain) and `RUN useradd ...`;
 * - `tini --` in the ENTRYPOINT (see `imageCommand`).
 * Absolute paths in a RUN line must be under ROOTED and are rewritten into the
 * stage's directory; any other absolute path is an error, so the Dockerfile
 * cannot quietly drift into steps this emulation does not really run.
 */

export interface Instruction {
  op: string;
  args: string;
  line: number;
}

export interface Stage {
  from: string;
  name: string | null;
  steps: Instruction[];
}

export interface Dockerfile {
  /** Global ARG defaults (before the first FROM). */
  args: Record<string, string>;
  stages: Stage[];
}

/** Container paths a RUN line may name; they live inside the stage's directory. */
export const ROOTED = ['/app', '/usr/local/bin'];

/** Instructions with continuation lines joined; comments and blank lines dropped. */
export function parseDockerfile(text: string): Dockerfile {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      const next = (lines[++i] as string).trim();
      line = `${line.slice(0, -1).trimEnd()} ${next.startsWith('#') ? '' : next}`.trimEnd();
    }
    const m = /^(\S+)\s*(.*)$/.exec(line) as RegExpExecArray;
    const op = (m[1] as string).toUpperCase();
    const rest = m[2] as string;
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!f) throw new Error(`Dockerfile:${start}: cannot read FROM ${rest}`);
      const from = (f[1] as string).replace(/\$\{(\w+)\}/g, (_, n: string) => args[n] ?? '');
      stages.push({ from, name: f[2] ?? null, steps: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`Dockerfile:${start}: ${op} before the first FROM`);
      const [k, v = ''] = rest.split('=');
      args[k as string] = v;
    } else {
      (stages.at(-1) as Stage).steps.push({ op, args: rest, line: start });
    }
  }
  return { args, stages };
}

/** The JSON (exec) form of CMD, ENTRYPOINT or HEALTHCHECK ... CMD. */
export function execForm(args: string): string[] {
  const json = args.replace(/^(--\S+\s+)*CMD\s+/, '');
  const argv: unknown = JSON.parse(json);
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw new Error(`not an exec form: ${args}`);
  return argv;
}

/** One `.dockerignore` pattern as a regexp over context-relative paths (`**`, `*`, `?`). */
function ignoreRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (pattern.startsWith('**/', i)) (re += '(?:.*/)?', (i += 2));
    else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A matching directory takes everything under it.
  return new RegExp(`^${re}(?:/.*)?$`);
}

/** Copies `src` to `dest` leaving out what `.dockerignore` (in `src`) excludes: the build context. */
export async function buildContext(src: string, dest: string): Promise<void> {
  const text = await readFile(join(src, '.dockerignore'), 'utf8').catch(() => '');
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (patterns.some((p) => p.startsWith('!'))) throw new Error('.dockerignore exceptions (!) are not emulated');
  const res = patterns.map((p) => ignoreRegExp(p.replace(/^\/+|\/+$/g, '')));
  await cp(src, dest, { recursive: true, verbatimSymlinks: true, filter: (from) => !res.some((re) => re.test(relative(src, from))) });
}

export interface BuiltImage {
  /** The runtime stage's directory, standing for its `/`. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | null;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[] | null;
  /** RUN lines left out (apt-get, useradd), for the test to show. */
  skipped: string[];
}

interface StageState {
  root: string;
  workdir: string;
  env: Record<string, string>;
}

/** Runs `cmd` with `sh -c`; rejects with its output when it fails. */
function sh(cmd: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    // The image's environment, plus the host's PATH and HOME (npm's cache) and where the
    // headers of the Node running the steps are (an image's Node has its own).
    const child = track(spawn('sh', ['-c', cmd], { cwd, env: { ...userEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`RUN ${cmd}: exit ${code}\n${out}`))));
  });
}

/** RUN's absolute paths moved into the stage's directory; other absolute paths are an error. */
function rootPaths(cmd: string, root: string): string {
  return cmd.replace(/(^|\s)(\/[^\s;&|]*)/g, (_, pre: string, path: string) => {
    if (!ROOTED.some((r) => path === r || path.startsWith(`${r}/`))) throw new Error(`RUN names ${path}, outside ${ROOTED.join(', ')}: not emulated`);
    return `${pre}${root}${path}`;
  });
}

/**
 * Builds `dockerfile` from `context` (already filtered by buildContext) into
 * directories under `work`. Resolves with the last stage; rejects with the
 * failing step's output.
 */
export async function buildImage(df: Dockerfile, context: string, work: string): Promise<BuiltImage> {
  const states = new Map<string, StageState>();
  let last: BuiltImage | undefined;
  for (const [i, stage] of df.stages.entries()) {
    const root = join(work, `stage-${stage.name ?? i}`);
    const base = states.get(stage.from);
    if (base) await cp(base.root, root, { recursive: true, verbatimSymlinks: true });
    else await mkdir(root, { recursive: true });
    const st: StageState = { root, workdir: base?.workdir ?? '/', env: { ...base?.env } };
    const image: BuiltImage = { root, workdir: '/', env: st.env, user: null, entrypoint: [], cmd: [], healthcheck: null, skipped: [] };
    for (const step of stage.steps) await runStep(step, st, image, context, states);
    image.workdir = st.workdir;
    states.set(stage.name ?? String(i), st);
    last = image;
  }
  if (!last) throw new Error('the Dockerfile has no stage');
  return last;
}

async function runStep(step: Instruction, st: StageState, image: BuiltImage, context: string, states: Map<string, StageState>): Promise<void> {
  const inside = (p: string): string => join(st.root, p.startsWith('/') ? p : join(st.workdir, p));
  switch (step.op) {
    case 'WORKDIR':
      st.workdir = step.args.startsWith('/') ? step.args : join(st.workdir, step.args);
      await mkdir(inside('.'), { recursive: true });
      return;
    case 'ENV':
      for (const pair of step.args.split(/\s+/)) {
        const at = pair.indexOf('=');
        st.env[pair.slice(0, at)] = pair.slice(at + 1);
      }
      return;
    case 'COPY': {
      const words = step.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      const dest = paths.pop() as string;
      const srcRoot = from === undefined ? context : (states.get(from)?.root ?? '');
      if (srcRoot === '') throw new Error(`Dockerfile:${step.line}: COPY --from=${from}: no such stage`);
      for (const src of paths) {
        const to = dest.endsWith('/') ? join(inside(dest), src.split('/').at(-1) as string) : inside(dest);
        await mkdir(dirname(to), { recursive: true });
        await cp(join(srcRoot, src), to, { recursive: true, verbatimSymlinks: true });
      }
      return;
    }
    case 'RUN':
      if (/^(apt-get|useradd|groupadd)\s/.test(step.args)) {
        image.skipped.push(step.args);
        return;
      }
      for (const r of ROOTED) await mkdir(join(st.root, r), { recursive: true });
      await sh(rootPaths(step.args, st.root), inside('.'), st.env);
      return;
    case 'USER':
      image.user = step.args;
      return;
    case 'ENTRYPOINT':
      image.entrypoint = execForm(step.args);
      return;
    case 'CMD':
      image.cmd = execForm(step.args);
      return;
    case 'HEALTHCHECK':
      image.healthcheck = execForm(step.args);
      return;
    case 'EXPOSE':
    case 'LABEL':
    case 'STOPSIGNAL':
      return;
    default:
      throw new Error(`Dockerfile:${step.line}: ${step.op} is not emulated`);
  }
}

/**
 * The argv `docker run IMAGE ...args` would run: ENTRYPOINT + (args, or CMD without any),
 * with `tether` resolved in the image's /usr/local/bin. `tini --` is dropped:
 * it is not on this host, and as PID 1 it only forwards signals and reaps.
 */
export function imageCommand(image: BuiltImage, args: string[] = []): string[] {
  let argv = [...image.entrypoint, ...(args.length > 0 ? args : image.cmd)];
  if (argv[0] === 'tini' && argv[1] === '--') argv = argv.slice(2);
  if (argv[0] === 'tether') argv[0] = join(image.root, 'usr/local/bin/tether');
  return argv;
}
