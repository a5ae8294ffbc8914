#!/usr/bin/env bash
# `npm test`: everything a fresh machine of CI's kind (Debian, root or sudo,
# apt and the npm registry reachable) needs, then the whole suite twice:
#
#   1. Debian packages the tests use, installed only when missing;
#   2. `npm ci` when node_modules is missing or does not match the lockfile;
#   2b. the orphan reaper addon (native/build.mjs: node-gyp, Node-API), when
#      older than its sources;
#   3. the typecheck;
#   4. vitest on this machine's Node;
#   5. vitest again on the Node the Docker image ships (the exact version in
#      .node-version, the Dockerfile's NODE_IMAGE too), fetched from the npm
#      registry (node-linux-<arch>), in a copy of this tree whose node_modules
#      is installed by that Node, so better-sqlite3 is compiled for each Node
#      and the first build is left alone; the reaper addon is step 2b's build,
#      copied (one Node-API build serves both Nodes);
#   6. each runner's summary, then one plain "N passed, N failed" line, last.
#
# Arguments go to both vitest runs (`npm test -- test/deploy/entries.test.ts`).
# TETHER_TEST_SECOND_NODE=0 skips step 5; `npm run test:quick` is steps 3-4 alone.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS
step() { echo "== [$((SECONDS - started))s] $*"; }

# better-sqlite3 is compiled from source (node-gyp), never a prebuilt download
# (set for the installs only: npm warns about it as an unknown config elsewhere),
# against the headers beside this Node when they are there (Debian's /usr), not
# a download from nodejs.org.
from_source=(env npm_config_build_from_source=true)
prefix=$(node -p 'path.dirname(path.dirname(process.execPath))')
[ -f "$prefix/include/node/node.h" ] && from_source+=(npm_config_nodedir="$prefix")

# ---- 1. Debian packages ----
# etcd-server/etcd-client: the etcd suites; redis-server and python3-zaqarclient:
# the queues comparisons and the python client's test; systemd: systemd-analyze
# (test/deploy/systemd.test.ts); python3, make, g++: node-gyp; git: the clean copies;
# zsh and fish: the completion scripts' tests (test/cli/completion.test.ts).
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
command -v redis-server >/dev/null || need+=(redis-server)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v python3 >/dev/null || need+=(python3)
dpkg -s python3-zaqarclient >/dev/null 2>&1 || need+=(python3-zaqarclient)
command -v make >/dev/null || need+=(make)
command -v g++ >/dev/null || need+=(g++)
command -v git >/dev/null || need+=(git)
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
if [ ${#need[@]} -gt 0 ]; then
  step "apt-get install ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q || exit 1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}" || exit 1
fi

# ---- 2. dependencies ----
# Exit 0 when DIR/node_modules holds exactly the lockfile's packages (npm's
# own record of what it installed, node_modules/.package-lock.json), and was
# installed by the Node named in $2 when given.
deps_current() {
  node - "$1" "${2:-}" <<'EOF'
const { readFileSync } = require('node:fs');
const [dir, node] = process.argv.slice(2);
const read = (f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
try {
  const lock = read('package-lock.json').packages;
  const installed = read('node_modules/.package-lock.json').packages;
  if (node && readFileSync(`${dir}/node_modules/.tether-node`, 'utf8').trim() !== node) process.exit(1);
  const stale = Object.entries(lock).filter(([k, p]) => k !== '' && !p.link && (installed[k] ? installed[k].version !== p.version : !p.optional));
  const extra = Object.keys(installed).filter((k) => !(k in lock));
  process.exit(stale.length + extra.length === 0 ? 0 : 1);
} catch {
  process.exit(1);
}
EOF
}
if ! deps_current "$root"; then
  step "npm ci (node $(node -v))"
  "${from_source[@]}" npm ci --no-audit --no-fund || exit 1
fi

# "passed failed" pairs, summed into the last line; a failed typecheck, a
# vitest run that did not report or a Node that could not be set up counts as one failure.
results=()
summaries=()

# ---- 2b. the reaper addon ----
step "native addon (native/build.mjs)"
if node native/build.mjs --if-stale; then summaries+=("native addon: ok"); else summaries+=("native addon: build failed"); results+=("0 1"); fi

# Records "LABEL: N passed, N failed" from a vitest JSON report (a file that
# failed to load counts as one failed test: vitest counts none in it).
vitest_summary() {
  local label=$1 report=$2 line passed failed skipped
  if [ ! -f "$report" ]; then
    summaries+=("$label: no report (vitest did not finish)")
    results+=("0 1")
    return
  fi
  line=$(node -e 'const r = require(require("node:path").resolve(process.argv[1]));
    console.log(r.numPassedTests, r.numFailedTests + (r.success || r.numFailedTests > 0 ? 0 : 1), r.numPendingTests + r.numTodoTests)' "$report")
  read -r passed failed skipped <<<"$line"
  summaries+=("$label: $passed passed, $failed failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")")
  results+=("$passed $failed")
}

# ---- 3. typecheck ----
step "typecheck"
if npx tsc -p tsconfig.json --noEmit; then summaries+=("typecheck: ok"); else summaries+=("typecheck: failed"); results+=("0 1"); fi

# ---- 4. vitest, this machine's Node ----
first_node=$(node -v)
step "vitest on node $first_node"
rm -f .vitest/results.json
npx vitest run "$@"
vitest_summary "node $first_node" .vitest/results.json

# ---- 5. vitest, the image's Node ----
second_node_run() {
  local version major arch cache pkg bin tree
  version=$(tr -d '[:space:]' <.node-version)
  [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "no Node version (x.y.z) in .node-version"; return 1; }
  major=${version%%.*}
  arch=$(node -p 'process.arch')
  # As root, a cache every user can read: the Dockerfile test runs the image's
  # commands as the image's user, whose `node` on the PATH must be this one.
  if [ "$(id -u)" -eq 0 ]; then cache=/var/cache/tether-sidecar; else cache=${XDG_CACHE_HOME:-$HOME/.cache}/tether-sidecar; fi
  cache=${TETHER_TEST_CACHE:-$cache}
  pkg="$cache/node$major/node_modules/node-linux-$arch"
  if [ ! -x "$pkg/bin/node" ] || [ "$("$pkg/bin/node" -v)" != "v$version" ]; then
    step "fetch node-linux-$arch@$version from the npm registry"
    npm install --prefix "$cache/node$major" --no-save --no-audit --no-fund "node-linux-$arch@$version" || return 1
  fi
  bin=$(cd "$pkg/bin" && pwd)
  second_node=$("$bin/node" -v)

  # The copy: what a clone plus the uncommitted work holds, in a git
  # repository of its own (the clean-copy tests list files with git).
  tree="$cache/tree-$(printf '%s' "$root" | sha1sum | cut -c1-12)"
  step "copy the tree to $tree"
  mkdir -p "$tree"
  find "$tree" -mindepth 1 -maxdepth 1 ! -name node_modules ! -name .git -exec rm -rf {} +
  [ -d "$tree/.git" ] || git init -q "$tree" || return 1
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    xargs -0 -r cp -P --parents -t "$tree" || return 1

  # Its own npm environment: nothing of the `npm test` that started this script.
  local clean=(env)
  while IFS= read -r v; do clean+=(-u "$v"); done < <(env | sed -n 's/^\(npm_[^=]*\)=.*/\1/p; s/^\(NODE\)=.*/\1/p')
  clean+=(PATH="$bin:$PATH")
  if ! deps_current "$tree" "$second_node"; then
    step "npm ci in the copy (node $second_node; node-gyp takes the headers from $pkg)"
    (cd "$tree" && "${clean[@]}" npm_config_build_from_source=true npm_config_nodedir="$pkg" npm ci --no-audit --no-fund) || return 1
    echo "$second_node" >"$tree/node_modules/.tether-node"
  fi
  # The addon built once in step 2b, not a second build: Node-API loads it on this Node too.
  rm -rf "$tree/native/build"
  # (Touched: the copy's sources are newer, and the tests rebuild a stale addon.)
  if [ -d native/build ]; then cp -a native/build "$tree/native/build" && touch "$tree/native/build/Release/tether_reaper.node"; fi
  step "vitest on node $second_node"
  rm -f "$tree/.vitest/results.json"
  (cd "$tree" && "${clean[@]}" npx vitest run "$@")
  vitest_summary "node $second_node" "$tree/.vitest/results.json"
}
if [ "${TETHER_TEST_SECOND_NODE:-1}" != 0 ]; then
  if ! second_node_run "$@"; then
    summaries+=("second node: could not be set up (see above)")
    results+=("0 1")
  fi
fi

# ---- 6. summary ----
step "summary"
for s in "${summaries[@]}"; do echo "$s"; done
total_passed=0
total_failed=0
for r in "${results[@]}"; do
  read -r p f <<<"$r"
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
done
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
