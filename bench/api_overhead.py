"""Requests/s of authenticated Parley GETs against a bare FastAPI endpoint, in the same run.

    python bench/api_overhead.py [--seconds 10] [--rounds 3] [--connections 32] [--client auto]

Two servers in their own processes, both ``uvicorn.run`` with one worker (uvloop + httptools
from ``uvicorn[standard]``) on loopback:

* bare: a FastAPI app with one ``async def`` endpoint returning a small JSON object, no
  middleware, no access log (``bench/serving.py``): the ceiling for any FastAPI endpoint here;
* parley: ``parley serve`` on a fresh SQLite data folder with default settings (its request
  middleware, JSON access log at INFO, metrics), a bootstrap admin and API key, one agent.

Targets, loaded one at a time by the same client: bare ``GET /bare``; Parley ``GET /healthz``
(no authentication: the cost of Parley's middleware alone); ``GET /v2/api/auth/me`` and
``GET /v2/api/agent/{id}`` with the API key in ``Ocp-Apim-Subscription-Key`` (credential
lookup, principal, a read transaction, the Ejento envelope). The client is ``wrk`` (one thread,
``--connections`` connections; Debian package ``wrk``) or, without it, an asyncio/httpx
generator in this process (slower than the servers: its figures are a floor). Rounds alternate
the targets so machine noise falls on all of them; the median of the rounds is reported, with
each Parley target as a share of the bare endpoint (target: authenticated GET >= 50%). Also the
CPU time each server spends per request (``/proc``, user + system over the run), steadier than
requests/s when other work shares the machine, and the bare endpoint's CPU per request as a share
of each target's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import API_KEY, ejento_data, start_bare, start_parley  # noqa: E402

HEADER = "Ocp-Apim-Subscription-Key"


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int) -> tuple[float, float, int]:
    """(requests/s, p50 ms, non-2xx responses) from one wrk run."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50, unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rate, float(p50) * scale, int(errors.group(1)) if errors else 0


def python_load(
    url: str, headers: dict[str, str], seconds: int, connections: int
) -> tuple[float, float, int]:
    """The same figures from ``connections`` asyncio workers sharing one httpx client."""

    async def run() -> tuple[float, float, int]:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    response = await client.get(url)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    errors += response.status_code >= 300

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.perf_counter() - started
        return len(latencies) / elapsed, statistics.median(latencies), errors

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="per target per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--parley-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for parley serve, e.g. PARLEY_LOG_LEVEL=WARNING (repeatable)",
    )
    args = parser.parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    load = wrk if client == "wrk" else python_load

    bare = start_bare()
    data_dir = Path(tempfile.mkdtemp(prefix="parley-bench-api-"))
    parley = start_parley(data_dir, **dict(item.split("=", 1) for item in args.parley_env))
    try:
        with httpx.Client(base_url=parley.base, headers={HEADER: API_KEY}, timeout=30) as api:
            team = ejento_data(api.post("/v2/api/team", json={"team_name": "Bench"}))
            project = ejento_data(
                api.post("/v2/api/project", json={"project_name": "Bench", "team_id": team["id"]})
            )
            agent = ejento_data(
                api.post("/v2/api/agent", json={"name": "Bench", "project_id": project["id"]})
            )
        auth = {HEADER: API_KEY}
        targets = [
            ("bare FastAPI GET /bare", f"{bare.base}/bare", {}, bare),
            ("parley GET /healthz (no auth)", f"{parley.base}/healthz", {}, parley),
            ("parley GET /v2/api/auth/me", f"{parley.base}/v2/api/auth/me", auth, parley),
            (
                f"parley GET /v2/api/agent/{agent['id']}",
                f"{parley.base}/v2/api/agent/{agent['id']}",
                auth,
                parley,
            ),
        ]
        for _, url, headers, _ in targets:  # warm up: imports, caches, connection pools
            load(url, headers, 2, args.connections)
        rates: dict[str, list[float]] = {label: [] for label, *_ in targets}
        p50s: dict[str, list[float]] = {label: [] for label, *_ in targets}
        cpu_ms: dict[str, list[float]] = {label: [] for label, *_ in targets}
        for round_number in range(args.rounds):
            for label, url, headers, server in targets:
                cpu_before, started = server.cpu_seconds(), time.perf_counter()
                rate, p50, errors = load(url, headers, args.seconds, args.connections)
                requests = rate * (time.perf_counter() - started)
                if errors:
                    raise SystemExit(f"{label}: {errors} responses were not 2xx")
                rates[label].append(rate)
                p50s[label].append(p50)
                cpu_ms[label].append((server.cpu_seconds() - cpu_before) * 1000 / max(requests, 1))
            print(f"round {round_number + 1}/{args.rounds} done", flush=True)
    finally:
        parley.stop()
        bare.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    print(
        f"\nclient {client}, {args.connections} connections, {args.seconds} s per target, "
        f"{args.rounds} rounds (median), {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        + (f", parley env {' '.join(args.parley_env)}" if args.parley_env else "")
    )
    bare_rate = statistics.median(rates[targets[0][0]])
    bare_cpu = statistics.median(cpu_ms[targets[0][0]])
    print(
        f"  {'target':34} {'req/s':>8} {'p50 ms':>7} {'share of bare':>13} {'CPU ms/req':>10} "
        f"{'bare CPU share':>14}   per round"
    )
    for label, *_ in targets:
        rate = statistics.median(rates[label])
        rounds = " ".join(f"{r / b:.0%}" for r, b in zip(rates[label], rates[targets[0][0]], strict=True))
        p50 = statistics.median(p50s[label])
        cpu = statistics.median(cpu_ms[label])
        print(
            f"  {label:34} {rate:8.0f} {p50:7.2f} {rate / bare_rate:13.1%} {cpu:10.3f} "
            f"{bare_cpu / cpu:14.1%}   {rounds}"
        )
    print("  target: authenticated GET >= 50% of the bare endpoint's requests/s")
    if client == "python":
        print("  (python client: it saturates before the bare server does, so the shares are overstated)")


if __name__ == "__main__":
    main()
