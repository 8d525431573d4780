"""Browser tests of the console: Debian's Chromium driven by Playwright against a real
``parley serve`` process (SQLite, the embedded default). Screenshots go to test-artifacts/e2e/.

The browser tests run on SQLite only: the console is a client of the HTTP API, whose behaviour
on PostgreSQL the API tests already cover, and a second server would double their time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_DATA
from tests.support.processes import ServerProcess, parley_env

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
DOCS = TEST_DATA / "docs"
PDF = DOCS / "pdf" / "multi_page.pdf"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 820}
PHONE = {"width": 390, "height": 844}
ADMIN_EMAIL = "admin@console.example.com"
ADMIN_PASSWORD = "console-admin-password"
ADMIN_KEY = "console-e2e-bootstrap-key-0123456789"


class Api:
    """The bootstrap admin's API key, for arranging data and checking what the console wrote."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(
            base_url=base_url, headers={"Ocp-Apim-Subscription-Key": ADMIN_KEY}, timeout=60
        )

    def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text[:300]}"
        body = response.json()
        return body["data"] if isinstance(body, dict) and "success" in body else body

    def wait_indexed(self, document_id: int, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self("GET", f"/v2/api/document/{document_id}/polling")
            if state["status"] in ("completed", "failed", "cancelled"):
                return state
            time.sleep(0.3)
        raise TimeoutError(f"document {document_id} was not indexed in {timeout} s")


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (scripts/install_browser.sh installs it)")
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright(chromium: Path) -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (scripts/install_browser.sh installs it)"
    )
    with sync_api.sync_playwright() as running:
        yield running


def launch(playwright: Any, *extra_args: str) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*BROWSER_ARGS, *extra_args])


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    launched = launch(playwright)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("console-server")
    env = parley_env(
        f"sqlite:///{data_dir / 'parley.db'}",
        data_dir,
        PARLEY_INIT_ADMIN_EMAIL=ADMIN_EMAIL,
        PARLEY_INIT_ADMIN_PASSWORD=ADMIN_PASSWORD,
        PARLEY_INIT_API_KEY=ADMIN_KEY,
    )
    # A generous start-up time: the machine is shared with other test runs.
    process = ServerProcess(env).start(timeout=180)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def api(server: ServerProcess) -> Iterator[Api]:
    client = Api(server.base_url)
    yield client
    client.client.close()


@pytest.fixture(scope="session")
def policy_agent(api: Api) -> dict:
    """An agent whose default corpus holds the five-page PDF, indexed."""
    team = api("POST", "/v2/api/team", json={"team_name": "Support"})
    project = api("POST", "/v2/api/project", json={"project_name": "Helpdesk", "team_id": team["id"]})
    agent = api(
        "POST",
        "/v2/api/agent",
        json={"name": "History Bot", "project_id": project["id"], "description": "Word processor history."},
    )
    corpus_id = api("GET", f"/v2/api/agent/{agent['id']}/corpus")[0]["corpus"]["id"]
    with PDF.open("rb") as pdf:
        document = api(
            "POST",
            f"/v2/api/corpus/{corpus_id}/document",
            data={"content_type": "file"},
            files={"source": (PDF.name, pdf, "application/pdf")},
        )
    assert api.wait_indexed(document["id"])["status"] == "completed"
    return {**agent, "corpus_id": corpus_id, "project_id": project["id"], "team_id": team["id"]}


@pytest.fixture
def page(browser: Any, server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context at laptop size; a JavaScript error anywhere fails the test."""
    context = browser.new_context(viewport=LAPTOP, base_url=server.base_url)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors in {request.node.name}: {errors}"


def sign_in(page: Any, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.locator(".shell main:not([aria-busy]) h1").wait_for()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
