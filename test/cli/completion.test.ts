import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { buildCli, removeBuild, tether } from './cli-process.js';

/**
 * `tether completion bash|zsh|fish`: the scripts the built CLI prints, loaded
 * into real bash, zsh and fish (scripts/test.sh installs zsh and fish), asked
 * for completions at several positions of a command line.
 */
const run = promisify(execFile);
let main: string;
let ownBuild = false;
let dir: string;
const scripts: Record<string, string> = {};

vi.setConfig({ testTimeout: 60_000 });

beforeAll(async () => {
  const provided = inject('cliMain') as string | undefined;
  ownBuild = provided === undefined;
  main = provided ?? (await buildCli());
  dir = await mkdtemp(join(tmpdir(), 'tether-completion-'));
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await tether(main, ['completion', shell]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    scripts[shell] = join(dir, `tether.${shell}`);
    await writeFile(scripts[shell] as string, r.stdout);
  }
}, 90_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  if (main && ownBuild) await removeBuild(main);
});

async function sh(file: string, args: string[]): Promise<string> {
  const { stdout } = await run(file, args, { env: { PATH: process.env.PATH ?? '', HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir } });
  return stdout;
}

/** The bash completions (COMPREPLY) for a command line whose last word is being completed. */
async function bashComplete(...words: string[]): Promise<string[]> {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const out = await sh('bash', ['-c', `source '${scripts.bash}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _tether; printf '%s\\n' "\${COMPREPLY[@]}"`]);
  return out.split('\n').filter((l) => l !== '');
}

/** The commands of `tether --help`: the table the completion must agree with. */
async function helpCommands(): Promise<string[]> {
  const help = (await tether(main, ['--help'])).stdout;
  return [...help.slice(help.indexOf('Commands:')).matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1] as string);
}

describe('tether completion bash', () => {
  it('registers with complete and offers the commands, sub-commands and flags of the CLI', async () => {
    const registered = await sh('bash', ['-c', `source '${scripts.bash}'; complete -p tether`]);
    expect(registered.trim()).toBe('complete -o default -F _tether tether');

    const commands = await helpCommands();
    expect(commands).toContain('completion');
    expect((await bashComplete('tether', '')).filter((w) => !w.startsWith('-')).sort()).toEqual([...commands].sort());
    expect(await bashComplete('tether', 'se')).toEqual(['server', 'services', 'sessions']);
    expect(await bashComplete('tether', 'services', '')).toEqual(['list', 'get', 'rm', 'register', 'update', 'heartbeat', '--help']);
    expect(await bashComplete('tether', 'sessions', 'h')).toEqual(['heartbeat']);
    const register = await bashComplete('tether', 'services', 'register', '--');
    for (const f of ['--id', '--name', '--host', '--port', '--version', '--tag', '--meta', '--heartbeat-timeout', '--session', '--file', '--url', '--json']) {
      expect(register).toContain(f);
    }
    expect(await bashComplete('tether', 'render', '--config', 'm.yaml', '--d')).toEqual(['--dry-run']);
    // After a flag that takes a value there is nothing to offer: the shell's own file completion (-o default) runs.
    expect(await bashComplete('tether', 'render', '--config', '')).toEqual([]);
    // A flag's value and the global flags before the command are not taken for the command.
    expect(await bashComplete('tether', '--url', 'http://x/v1.0/t', 'services', 'l')).toEqual(['list']);
    expect(await bashComplete('tether', 'services', '--url', 'list', 'ge')).toEqual(['get']);
  });
});

describe('tether completion zsh', () => {
  it('registers with compdef and offers the same words through compadd', async () => {
    // compadd and _files need a live completion widget; stand-ins print what they were given.
    const probe = (words: string[]) =>
      sh('zsh', [
        '-f',
        '-c',
        `autoload -U compinit; compinit -u -D; source '${scripts.zsh}'; print -r -- "comps=$_comps[tether]";
         compadd() { while [[ $1 != -- ]]; do shift; done; shift; print -rl -- "$@"; }; _files() { print -r -- '<files>'; };
         words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _tether`,
      ]);
    const top = (await probe(['tether', ''])).split('\n');
    expect(top[0]).toBe('comps=_tether');
    expect(top.filter((w) => w !== '' && !w.startsWith('-') && !w.startsWith('comps=')).sort()).toEqual((await helpCommands()).sort());
    expect((await probe(['tether', 'sessions', ''])).split('\n').slice(1, -1)).toEqual(['list', 'create', 'get', 'heartbeat', 'delete', '--help']);
    expect(await probe(['tether', 'render', '--config', ''])).toBe('comps=_tether\n<files>\n');
    // The commands' display strings carry their summaries (compadd -d), quotes and all.
    const shown = await sh('zsh', [
      '-f',
      '-c',
      `autoload -U compinit; compinit -u -D; source '${scripts.zsh}';
       compadd() { local -a d; while [[ $1 != -- ]]; do [[ $1 == -d ]] && { d=("\${(@P)2}"); shift; }; shift; done; print -rl -- "\${d[@]}"; };
       words=(tether ''); CURRENT=2; _tether`,
    ]);
    expect(shown).toContain("limits  -- show the tenant's resource and rate limits\n");
    expect(shown).toContain('completion  -- print a shell completion script (bash, zsh, fish)\n');
  });
});

describe('tether completion fish', () => {
  it('completes commands with their summaries, sub-commands and flags (complete -C)', async () => {
    const complete = async (line: string) => (await sh('fish', ['-N', '-c', `source '${scripts.fish}'; complete -C '${line}'`])).split('\n').filter((l) => l !== '');
    expect(await complete('tether ses')).toEqual(['sessions\tlist, create, show, heartbeat and delete sessions']);
    expect(await complete('tether services reg')).toEqual(['register']);
    expect((await complete('tether services register --h')).map((l) => l.split('\t')[0])).toEqual(['--heartbeat-timeout', '--help', '--host']);
    expect((await complete('tether render --dr')).map((l) => l.split('\t')[0])).toEqual(['--dry-run']);
    expect((await complete('tether completion ')).length).toBe(0);
  });
});

describe('tether completion (usage)', () => {
  it('refuses an unknown shell with exit 2', async () => {
    const r = await tether(main, ['completion', 'tcsh']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown shell "tcsh": bash, zsh or fish');
  });
});
