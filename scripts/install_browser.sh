#!/usr/bin/env bash
# Install what the console's browser tests (tests/e2e/) need: Debian's Chromium at
# /usr/bin/chromium (apt-get, when missing) and Playwright for Python in .venv. Playwright's own
# browser download (`playwright install`) is never used: the tests drive the system Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

install_chromium() {
  "$@" apt-get update -qq && "$@" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}
if [ ! -x /usr/bin/chromium ]; then
  # A failed install is not fatal: the browser tests then skip and say why.
  if [ "$(id -u)" -eq 0 ]; then
    install_chromium || echo "Installing Chromium failed; the browser tests will be skipped." >&2
  elif command -v sudo >/dev/null 2>&1; then
    install_chromium sudo || echo "Installing Chromium failed; the browser tests will be skipped." >&2
  else
    echo "Chromium is missing and this user cannot install it; the browser tests will be skipped." >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  echo "Run scripts/install.sh first (no .venv yet)." >&2
  exit 1
fi
.venv/bin/python -m pip --disable-pip-version-check -q install "playwright>=1.45"
