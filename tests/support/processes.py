"""Start real ``parley`` processes for tests that need a server over a socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parley_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(
        {
            "PARLEY_DATABASE_URL": database_url,
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_LOG_LEVEL": "WARNING",
            # The cheapest argon2 cost, as for the in-process apps (tests/conftest.py).
            "PARLEY_AUTH__PASSWORD_HASH_TIME_COST": "1",
            "PARLEY_AUTH__PASSWORD_HASH_MEMORY_KIB": "32",
        }
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], input_text: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", *args],
        env=env,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=120,
    )


class ChildProcess:
    """A Parley process started by a test: killed like a crash, or stopped politely."""

    process: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class ServerProcess(ChildProcess):
    """``parley serve`` in a subprocess, stopped on exit."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = env

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServerProcess:
        # The log goes to a file, not a pipe: a pipe nobody reads fills up after a few hundred
        # access-log lines and then blocks the server in the middle of a request. The server
        # keeps its own handle on the (unlinked) file after this one is closed.
        host = ["--host", "127.0.0.1", "--port", str(self.port)]
        command = [sys.executable, "-m", "parley.cli", "serve", *host]
        with tempfile.TemporaryFile() as log:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"parley serve exited early: {log.read().decode()[-2000:]}")
                try:
                    if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise TimeoutError("parley serve did not become ready")

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
