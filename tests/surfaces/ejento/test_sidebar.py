"""Every endpoint of Ejento's V2 Legacy sidebar (tests/data/ejento/v2-legacy-sidebar.txt) has a row in
docs/api/ejento*.md whose method and path are a route of the app: nothing the sidebar lists
is left undocumented or unserved."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI

from tests.conftest import TEST_DATA

SIDEBAR = TEST_DATA / "ejento" / "v2-legacy-sidebar.txt"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "api"
_METHOD = re.compile(r"GET|POST|PUT|PATCH|DELETE")


def sidebar_endpoints() -> list[tuple[str, str]]:
    """(group, endpoint name): a group's name starts its line, its endpoints are indented below it."""
    found: list[tuple[str, str]] = []
    group = ""
    for line in SIDEBAR.read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):
            found.append((group, line.strip()))
        elif line:
            group = line
    return found


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
