"""Helpers for benchmarks that run servers in their own processes: start ``parley serve`` or a
bare FastAPI app on a free loopback port, time it until it answers, read its memory, stop it.

``python bench/serving.py bare PORT`` serves the bare app: one ``async def`` endpoint returning a
small JSON object, no middleware, no access log, ``uvicorn.run`` as ``parley serve`` calls it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

API_KEY = "bench-serving-key-0123456789abcdef"
ADMIN_EMAIL = "bench@example.com"


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    ready_seconds: float  # from just before the process was started to the first 200 on the probe
    ready_cpu_seconds: float = 0.0  # CPU time the process had used by then

    def rss_mb(self) -> float:
        return proc_status_mb(self.process.pid, "VmRSS")

    def peak_rss_mb(self) -> float:
        return proc_status_mb(self.process.pid, "VmHWM")

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (less noisy than wall time on a
        shared machine)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def proc_status_mb(pid: int, field: str) -> float:
    """A memory line of /proc/PID/status (VmRSS, VmHWM...) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"{field} not in /proc/{pid}/status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], port: int, probe: str, env: dict[str, str], timeout: float = 120) -> Server:
    """Run ``command`` and poll ``probe`` every 10 ms until it answers 200."""
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with httpx.Client(base_url=base, timeout=2) as client:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise SystemExit(f"{' '.join(command)} exited with {process.returncode}")
            try:
                if client.get(probe).status_code == 200:
                    server = Server(process, base, time.perf_counter() - started)
                    server.ready_cpu_seconds = server.cpu_seconds()
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    process.kill()
    raise SystemExit(f"{' '.join(command)} did not answer {probe} within {timeout:.0f} s")


def serve_bare(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/bare")
    async def bare() -> dict:
        return {"status": "ok", "data": {"id": 1, "name": "bare"}}

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, proxy_headers=False)


def start_bare() -> Server:
    port = free_port()
    return start([sys.executable, __file__, "bare", str(port)], port, "/bare", dict(os.environ))


def parley_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment for ``parley serve`` on ``data_dir`` with a bootstrap admin and API key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(
        PARLEY_ENVIRONMENT="development",
        PARLEY_DATA_DIR=str(data_dir),
        PARLEY_INIT_ADMIN_EMAIL=ADMIN_EMAIL,
        PARLEY_INIT_ADMIN_PASSWORD="bench-password-1",
        PARLEY_INIT_API_KEY=API_KEY,
        **extra,
    )
    return env


def start_parley(data_dir: Path, **extra_env: str) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "parley.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return start(command, port, "/healthz", parley_env(data_dir, **extra_env))


def ejento_data(response: httpx.Response) -> dict:
    """The ``data`` of an Ejento envelope; stops the benchmark on an error status."""
    if response.status_code >= 300:
        raise SystemExit(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response.json()["data"]


def agent_with_corpus(api: httpx.Client, name: str) -> tuple[dict, dict]:
    """A new agent (in a team and project of the same name) bound to a new corpus."""
    team = ejento_data(api.post("/v2/api/team", json={"team_name": name}))
    project = ejento_data(api.post("/v2/api/project", json={"project_name": name, "team_id": team["id"]}))
    agent = ejento_data(api.post("/v2/api/agent", json={"name": name, "project_id": project["id"]}))
    corpus = ejento_data(api.post("/v2/api/corpus", json={"name": name}))
    ejento_data(api.post(f"/v2/api/agent/{agent['id']}/corpus/{corpus['id']}"))
    return agent, corpus


def index_documents(
    api: httpx.Client, corpus_id: int, documents: Iterable[tuple[str, str]], timeout_seconds: float
) -> None:
    """Upload each (file name, text) as a text file and wait until all are indexed."""
    pending = set()
    for name, content in documents:
        upload = {"source": (name, content.encode(), "text/plain")}
        form = {"content_type": "file", "upload_from": "web"}
        pending.add(
            ejento_data(api.post(f"/v2/api/corpus/{corpus_id}/document", data=form, files=upload))["id"]
        )
    deadline = time.perf_counter() + timeout_seconds
    while pending and time.perf_counter() < deadline:
        for document_id in list(pending):
            status = ejento_data(api.get(f"/v2/api/document/{document_id}/polling"))["status"]
            if status in ("failed", "cancelled"):
                raise SystemExit(f"document {document_id} {status}")
            if status == "completed":
                pending.discard(document_id)
        time.sleep(0.2)
    if pending:
        raise SystemExit(f"{len(pending)} documents not indexed in time")


if __name__ == "__main__" and sys.argv[1:2] == ["bare"]:
    serve_bare(int(sys.argv[2]))
