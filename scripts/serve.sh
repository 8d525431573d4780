#!/usr/bin/env bash
# Install Parley and start it on the embedded default (SQLite under $PARLEY_DATA_DIR,
# ./parley-data unless set). Extra arguments go to `parley serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/parley serve "$@"
