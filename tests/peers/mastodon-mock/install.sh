#!/usr/bin/env bash
# Installs the pinned PyPI `mastodon-mock` server for the Mastodon provider's
# tests into a venv inside this folder (.venv), only when it is missing or holds
# another version. Prints the path of the `mastodon_mock` executable on stdout;
# everything else goes to stderr. Fails loudly (exit 1) when python3, venv or
# pip are missing or the install fails, so the caller can tell "absent" apart.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VERSION="0.6.1"
VENV=".venv"
BIN="$VENV/bin/mastodon_mock"

die() { echo "mastodon-mock/install.sh: $*" >&2; exit 1; }

command -v python3 >/dev/null 2>&1 || die "python3 is not installed (mastodon-mock needs Python >= 3.10)"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "python3 $(python3 -V 2>&1) is too old: mastodon-mock needs >= 3.10"

installed() {
  [ -x "$BIN" ] && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mastodon-mock"))' 2>/dev/null)" = "$VERSION" ]
}

install() {
  if installed; then
    return
  fi
  echo "mastodon-mock: creating $VENV with mastodon-mock==$VERSION" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2 || die "python3 -m venv failed (is the venv module / python3-venv installed?)"
  "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || { rm -rf "$VENV"; die "the venv has no pip"; }
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "mastodon-mock==$VERSION" >&2 \
    || { rm -rf "$VENV"; die "pip install mastodon-mock==$VERSION failed"; }
  installed || { rm -rf "$VENV"; die "mastodon-mock $VERSION did not install"; }
}

# Concurrent test runs share this folder: one install at a time.
if command -v flock >/dev/null 2>&1; then
  exec 9>.install.lock
  flock 9
fi
install

echo "mastodon-mock: $VERSION ready" >&2
echo "$(pwd)/$BIN"
