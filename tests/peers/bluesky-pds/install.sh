#!/usr/bin/env bash
# Installs the pinned Bluesky PDS peer (@atproto/pds 0.4.217 + @did-plc/server
# 0.0.1) with `npm ci` from the committed package-lock.json, only when
# node_modules is missing or older than package-lock.json. About 2 minutes and
# 250 MB the first time (better-sqlite3 is compiled with node-gyp). Fails
# loudly when node or npm is missing or the install does not load.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() { echo "bluesky-pds/install.sh: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed (the Bluesky PDS peer needs Node.js 18.7-20)"
command -v npm >/dev/null 2>&1 || die "npm is not installed (the Bluesky PDS peer needs npm)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
  || die "node $(node --version) is too old: @atproto/pds 0.4.217 needs >= 18.7"
[ -f package-lock.json ] || die "package-lock.json is missing"

# npm writes node_modules/.package-lock.json on every install; -nt is also true
# when it does not exist.
stale() {
  [ ! -d node_modules/@atproto/pds ] || [ ! -d node_modules/@did-plc/server ] \
    || [ package-lock.json -nt node_modules/.package-lock.json ]
}

install() {
  if stale; then
    echo "bluesky-pds: npm ci (about 2 minutes the first time)" >&2
    npm ci --no-audit --no-fund >&2 || die "npm ci failed"
    touch node_modules/.package-lock.json
  fi
}

# Concurrent test runs share this folder: one npm ci at a time.
if command -v flock >/dev/null 2>&1; then
  exec 9>.install.lock
  flock 9
fi
install

got=$(node -p 'require("@atproto/pds/package.json").version') || die "@atproto/pds does not load"
[ "$got" = "0.4.217" ] || die "installed @atproto/pds is $got, want 0.4.217"
# better-sqlite3 is a native module: a build for another node ABI fails here.
node -e 'require("better-sqlite3")(":memory:").close()' \
  || die "better-sqlite3 does not load with node $(node --version); delete node_modules and retry"
echo "bluesky-pds: @atproto/pds $got ready (node $(node --version))" >&2
