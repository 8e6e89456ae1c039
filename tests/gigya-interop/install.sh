#!/usr/bin/env bash
# Installs the pinned npm `gigya` SDK for the interop test (npm ci from the
# committed package-lock.json), only when node_modules is missing or older than
# package-lock.json. Fails loudly if node or npm is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() { echo "gigya-interop/install.sh: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed (the Gigya SDK interop test needs Node.js >= 18)"
command -v npm >/dev/null 2>&1 || die "npm is not installed (the Gigya SDK interop test needs npm)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
  || die "node $(node --version) is too old: need >= 18 (global fetch)"
[ -f package-lock.json ] || die "package-lock.json is missing"

# npm writes node_modules/.package-lock.json on every install; -nt is also true
# when it does not exist.
stale() {
  [ ! -d node_modules/gigya ] || [ package-lock.json -nt node_modules/.package-lock.json ]
}

install() {
  if stale; then
    echo "gigya-interop: npm ci" >&2
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

got=$(node -p 'require("gigya/package.json").version') || die "the gigya package does not load"
[ "$got" = "3.0.1" ] || die "installed gigya is $got, want 3.0.1"
echo "gigya-interop: gigya $got ready" >&2
