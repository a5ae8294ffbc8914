import { out, parse, positionals, UsageError, type Command } from '../args.js';
import { bashScript, completionEntries, fishScript, zshScript } from '../completion.js';

const help = `Usage: tether completion bash|zsh|fish

Prints a completion script for the shell, made from the same command table
and option tables the CLI parses with (so it offers exactly what parses).

  bash:  source <(tether completion bash)       (or save it in /etc/bash_completion.d/tether)
  zsh:   source <(tether completion zsh)        (after compinit; or save it as _tether in $fpath)
  fish:  tether completion fish | source        (or save it as ~/.config/fish/completions/tether.fish)
`;

const options = { help: { type: 'boolean', short: 'h' } } as const;
const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

/** The completion command over `loadAll` (every command of the CLI's table, loaded). */
export function completionCommand(loadAll: () => Promise<Array<[string, Command]>>): Command {
  const self: Command = {
    name: 'completion',
    summary: 'print a shell completion script (bash, zsh, fish)',
    help,
    options,
    async run(argv) {
      const { values, positionals: pos } = parse('completion', argv, options);
      if (values.help) return (out(help), 0);
      const [shell] = positionals('completion', pos, ['SHELL']) as [string];
      if (!Object.hasOwn(SHELLS, shell)) throw new UsageError(`unknown shell "${shell}": bash, zsh or fish`, 'completion');
      // This command is in the table too; its loader gives back a copy made the same way.
      const commands = await loadAll();
      out(SHELLS[shell as keyof typeof SHELLS](completionEntries(commands)));
      return 0;
    },
  };
  return self;
}
