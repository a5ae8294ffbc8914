import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/cli/args.js';
import { completionCommand } from '../../src/cli/commands/completion.js';
import { renderCommand } from '../../src/cli/commands/render.js';
import { servicesCommand } from '../../src/cli/commands/services.js';
import { sessionsCommand } from '../../src/cli/commands/sessions.js';
import { statusCommand } from '../../src/cli/commands/status.js';
import { validateCommand } from '../../src/cli/commands/validate.js';
import { repoRoot } from './cli-process.js';

/**
 * The README's CLI reference names every sub-command and every flag of the
 * commands with a write side or JSON output (issue 18 item 12), taken from
 * the option tables the commands parse with, so a new flag cannot go
 * undocumented.
 */

/** Flags every client or long-running command shares, documented once in the notes under the table. */
const SHARED = new Set(['url', 'token', 'cacert', 'cert', 'key', 'server-name', 'help', 'log-level', 'log-format', 'agent']);

async function cliSection(): Promise<string> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## CLI\n');
  return readme.slice(start, readme.indexOf('\n## ', start + 5));
}

const commands: Command[] = [servicesCommand, sessionsCommand, renderCommand, validateCommand, statusCommand, completionCommand(async () => [])];

describe('README CLI reference', () => {
  it('documents every sub-command and flag of services, sessions, render, validate, status and completion', async () => {
    const section = await cliSection();
    const missing: string[] = [];
    for (const c of commands) {
      if (!section.includes(`tether ${c.name}`)) missing.push(c.name);
      const tables = c.subs ? Object.entries(c.subs) : [['', c.options ?? {}] as const];
      for (const [sub, options] of tables) {
        if (sub !== '' && !new RegExp(`\`(tether )?(${c.name} )?${sub}\\b`).test(section)) missing.push(`${c.name} ${sub}`);
        for (const flag of Object.keys(options)) {
          if (!SHARED.has(flag) && !section.includes(`--${flag}`)) missing.push(`${c.name} ${sub} --${flag}`.replace('  ', ' '));
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
