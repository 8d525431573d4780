"""Every endpoint of Ejento's V2 Legacy sidebar (seeds/000_*.txt and 001_*.txt) has a row in
docs/api/ejento*.md whose method and path are a route of the app: nothing the sidebar lists
is left undocumented or unserved."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI

from tests.conftest import SHARED_DIR

SEEDS = SHARED_DIR / "seeds"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "api"
_BULLET = re.compile(r"^(\s*)• (.+)$")
_METHOD = re.compile(r"GET|POST|PUT|PATCH|DELETE")


def sidebar_endpoints() -> list[tuple[str, str]]:
    """(group, endpoint name) under "Endpoints": groups at depth 2, endpoints at depth 3."""
    found: dict[tuple[str, str], None] = {}
    for seed in sorted(SEEDS.glob("00[01]_*.txt")):
        group, inside = "", False
        for line in seed.read_text(encoding="utf-8").splitlines():
            match = _BULLET.match(line)
            if not match:
                continue
            depth, name = len(match.group(1)) // 2, match.group(2).strip()
            if depth == 1:
                inside = name == "Endpoints"
            elif inside and depth == 2:
                group = name
            elif inside and depth == 3:
                found[(group, name)] = None
    return list(found)


def documented_rows() -> dict[str, list[tuple[str, str]]]:
    """Endpoint name (lower case) → (method, path) of its table rows; "same path" repeats the
    path of the row above."""
    rows: dict[str, list[tuple[str, str]]] = {}
    for page in [*DOCS.glob("ejento*.md"), *DOCS.glob("ejento-parts/*.md")]:
        previous = ""
        for line in page.read_text(encoding="utf-8").splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) < 3 or not _METHOD.fullmatch(cells[1]):
                continue
            path = re.search(r"`(/[^`]+)`", cells[2])
            previous = path.group(1) if path else previous
            name = re.sub(r"\s*\(.*?\)\s*$", "", cells[0]).lower()
            rows.setdefault(name, []).append((cells[1], previous))
    return rows


def _route_patterns(app: FastAPI) -> list[tuple[str, re.Pattern[str]]]:
    patterns = []
    for path, operations in app.openapi()["paths"].items():
        regex = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        patterns.extend((method.upper(), regex) for method in operations)
    return patterns


def test_every_sidebar_endpoint_is_documented_and_served(app: FastAPI) -> None:
    endpoints = sidebar_endpoints()
    assert len(endpoints) > 150  # the seeds' list was read, not an empty match
    rows, routes = documented_rows(), _route_patterns(app)
    undocumented = [f"{group}: {name}" for group, name in endpoints if name.lower() not in rows]
    unserved = [
        f"{name}: {method} {path}"
        for _, name in endpoints
        for method, path in rows.get(name.lower(), [])
        if not any(m == method and pattern.match(path.split("?")[0]) for m, pattern in routes)
    ]
    assert undocumented == [] and unserved == []
