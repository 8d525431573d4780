"""Password sign-ins are throttled per account and per client address, on every surface that
takes a password (Ejento login, SuperOffice Basic), with state in the database, on both backends.

The thresholds are set low here and the clock is one the tests move (``parley.http.sign_in``
reads ``utcnow``): 3 free failures per account, 6 per address, a first lockout of 60 s.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from parley.accounts import service as accounts_service
from parley.accounts import sign_in as throttle
from parley.app import create_app
from parley.db.base import utcnow
from parley.http import sign_in
from parley.settings import SignInSettings
from tests.conftest import make_settings
from tests.surfaces.superoffice.support import assert_so_error, basic

PASSWORD = "right-password-1"
LOGIN = "/v2/api/auth/login"
WHO_AM_I = "/api/v1/Agents/AI/GetChatbotBindings"
LIMITS = SignInSettings(
    free_failures_per_account=3,
    free_failures_per_address=6,
    first_lockout_seconds=60,
    max_lockout_seconds=600,
)


@pytest.fixture
def settings(database_url, tmp_path):  # type: ignore[no-untyped-def]
    return make_settings(database_url, tmp_path, sign_in=LIMITS)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:  # type: ignore[no-untyped-def]
    moved = Clock()
    monkeypatch.setattr(sign_in, "utcnow", moved)
    return moved


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """The emails whose password argon2 checked, in order."""
    checked: list[str] = []
    real = accounts_service.password_user

    def counting(session, email, password):  # type: ignore[no-untyped-def]
        checked.append(email)
        return real(session, email, password)

    monkeypatch.setattr(accounts_service, "password_user", counting)
    return checked


def login(client, email: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(LOGIN, json={"email": email, "password": password})


def test_wrong_passwords_lock_the_account_before_argon2_runs(world, client, clock, hashes):
    world.user(world.org(), email="ann@example.com", password=PASSWORD)
    for _ in range(4):  # three free failures, and the fourth locks for 60 s
        assert login(client, "ann@example.com", "wrong-password").status_code == 401
    checked = len(hashes)
    refused = login(client, "ann@example.com", PASSWORD)
    assert refused.status_code == 429
    assert refused.json() == {
        "success": False,
        "message": "Too many failed sign-in attempts. Try again later.",
        "data": None,
    }
    assert int(refused.headers["Retry-After"]) == 60
    assert len(hashes) == checked  # refused without computing argon2
    clock.advance(30)
    assert int(login(client, "ann@example.com", PASSWORD).headers["Retry-After"]) == 30
    clock.advance(31)
    assert login(client, "ann@example.com", PASSWORD).status_code == 200


def test_each_failure_past_the_free_ones_doubles_the_lockout_up_to_the_cap(world, client, clock):
    world.user(world.org(), email="ben@example.com", password=PASSWORD)
    waits: list[int] = []
    while len(waits) < 6:
        r = login(client, "ben@example.com", "wrong-password")
        if r.status_code == 429:
            waits.append(int(r.headers["Retry-After"]))
            clock.advance(waits[-1])
        else:
            assert r.status_code == 401
    assert waits == [60, 120, 240, 480, 600, 600]


def test_a_success_starts_the_account_over(world, client, clock):
    world.user(world.org(), email="cat@example.com", password=PASSWORD)
    for _ in range(3):
        assert login(client, "cat@example.com", "wrong-password").status_code == 401
    assert login(client, "cat@example.com", PASSWORD).status_code == 200
    for _ in range(3):  # free again: without the reset the first of these would lock
        assert login(client, "cat@example.com", "wrong-password").status_code == 401
    assert login(client, "cat@example.com", PASSWORD).status_code == 200


def test_unknown_accounts_are_throttled_exactly_like_known_ones(world, client, clock):
    world.user(world.org(), email="dan@example.com", password=PASSWORD)
    answers = {}
    for email in ("dan@example.com", "nobody@example.com"):
        statuses = [login(client, email, "wrong-password").status_code for _ in range(5)]
        refused = login(client, email, "wrong-password")
        answers[email] = (statuses, refused.status_code, refused.headers.get("Retry-After"), refused.json())
        clock.advance(LIMITS.forget_after_seconds + 1)  # the address's failures are forgotten too
    assert answers["dan@example.com"] == answers["nobody@example.com"]
    assert answers["dan@example.com"][0] == [401, 401, 401, 401, 429]


def test_one_address_is_throttled_across_accounts(world, client, clock):
    org = world.org()
    world.user(org, email="eve@example.com", password=PASSWORD)
    for n in range(7):  # one failure each on seven accounts: the address's seventh locks it
        assert login(client, f"guess{n}@example.com", "wrong-password").status_code == 401
    # Eve never failed, but her sign-in comes from the locked address.
    refused = login(client, "eve@example.com", PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == 60
    clock.advance(60)
    assert login(client, "eve@example.com", PASSWORD).status_code == 200


def test_the_lockout_holds_in_every_api_process(world, client, settings, clock):
    """State lives in the database: another process serving the same database refuses too."""
    world.user(world.org(), email="fay@example.com", password=PASSWORD)
    for _ in range(4):
        assert login(client, "fay@example.com", "wrong-password").status_code == 401
    with TestClient(create_app(settings), raise_server_exceptions=False) as other:
        assert login(other, "fay@example.com", PASSWORD).status_code == 429


def test_superoffice_basic_is_throttled_in_its_own_error_format(world, client, clock, hashes):
    world.user(world.org(), email="gus@example.com", password=PASSWORD, admin=True)
    for _ in range(4):
        r = client.post(WHO_AM_I, headers=basic("gus@example.com", "wrong-password"), json={})
        assert_so_error(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Basic")
    checked = len(hashes)
    refused = client.post(WHO_AM_I, headers=basic("gus@example.com", PASSWORD), json={})
    assert_so_error(refused, 429, "Too many failed sign-in attempts")
    assert int(refused.headers["Retry-After"]) == 60 and len(hashes) == checked
    # Ejento's login shares the account's count.
    assert login(client, "gus@example.com", PASSWORD).status_code == 429
    clock.advance(60)
    assert client.post(WHO_AM_I, headers=basic("gus@example.com", PASSWORD), json={}).status_code == 200


def test_failures_are_forgotten_after_a_quiet_spell(world, client, clock):
    world.user(world.org(), email="hal@example.com", password=PASSWORD)
    for _ in range(3):
        assert login(client, "hal@example.com", "wrong-password").status_code == 401
    clock.advance(LIMITS.forget_after_seconds + 1)
    assert login(client, "hal@example.com", "wrong-password").status_code == 401
    assert login(client, "hal@example.com", PASSWORD).status_code == 200  # one failure: not locked


def test_lockout_arithmetic():
    assert throttle.lockout(3, 3, LIMITS) is None
    assert throttle.lockout(4, 3, LIMITS) == timedelta(seconds=60)
    assert throttle.lockout(10**6, 3, LIMITS) == timedelta(seconds=600)
