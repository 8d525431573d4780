"""Ejento V2 Feature Flag group: global defaults, organisation overrides, the login flags."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.flags.models import FeatureFlag
from parley.reference_data import FEATURE_FLAGS
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    TIMESTAMP,
    assert_error,
    assert_read_only,
    count,
    succeeded,
)

BASE = "/v2/api/feature-flag"
JSON = {"Content-Type": "application/json"}
LOGIN = "/auth-service/api/v2/feature-flags/logins"
FLAG_KEYS = [
    "id",
    "name",
    "description",
    "is_enabled",
    "default_is_enabled",
    "is_overridden",
    "organization",
    "created_by",
    "created_on",
    "modified_by",
    "modified_on",
]
# Every "Get <X> Feature Flag" of the sidebar, its path segment and the flag it reads.
SIDEBAR = {
    "Get DALL-E Feature Flag": ("dall-e", "dalle"),
    "Get Share Agent Feature Flag": ("share-agent", "share_agent"),
    "Get Agent Alias Feature Flag": ("agent-alias", "agent_alias"),
    "Get SharePoint Index Feature Flag": ("sharepoint-index", "sharepoint_index"),
    "Get Chat Agent Creation Feature Flag": ("chat-agent-creation", "chat_agent_creation"),
    "Get Google OAuth Feature Flag": ("google-oauth", "google_oauth"),
    "Get LinkedIn OAuth Feature Flag": ("linkedin-oauth", "linkedin_oauth"),
    "Get MS SSO OAuth Feature Flag": ("ms-sso-oauth", "ms_sso_oauth"),
    "Get Github OAuth Feature Flag": ("github-oauth", "github_oauth"),
}
OAUTH = ["github_oauth", "google_oauth", "linkedin_oauth", "ms_sso_oauth"]


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    member: Actor


@pytest.fixture
def t(world: World) -> Tenant:
    org = world.org("Acme")
    return Tenant(org, world.user(org, admin=True), world.user(org))


def overrides(db: Session) -> int:
    return count(db, FeatureFlag, FeatureFlag.org_id.is_not(None))


def flag(actor: Actor, name: str) -> dict:
    return succeeded(actor.get(f"{BASE}/{name}"), 200, "Feature flag fetched successfully.")


def test_get_all_feature_flags_lists_every_seeded_flag_with_its_default(t: Tenant):
    data = succeeded(t.member.get(BASE), 200, "Feature flags fetched successfully.")
    assert [f["name"] for f in data] == sorted(FEATURE_FLAGS)
    # The sidebar's flags are exactly the seeded ones.
    assert {name for _, name in SIDEBAR.values()} == set(FEATURE_FLAGS)
    for item in data:
        assert list(item) == FLAG_KEYS
        enabled, description = FEATURE_FLAGS[item["name"]]
        assert item["is_enabled"] is enabled and item["default_is_enabled"] is enabled
        assert item["description"] == description and item["is_overridden"] is False
        assert item["organization"] is None and item["created_by"] == "System"
        assert TIMESTAMP.match(item["created_on"]) and isinstance(item["id"], int)


def test_each_sidebar_flag_has_its_own_path(t: Tenant):
    for segment, name in SIDEBAR.values():
        got = flag(t.member, segment)
        assert got["name"] == name and got["is_enabled"] is FEATURE_FLAGS[name][0]
        # Names match ignoring case, hyphens and underscores.
        assert flag(t.member, name)["id"] == got["id"] == flag(t.member, segment.upper())["id"]
    assert_error(t.member.get(f"{BASE}/dark-mode"), 404, "Feature flag not found.")
    assert_error(t.member.get(f"{BASE}/{'x' * 101}"), 400)


def test_oauth_flags_and_the_login_flags(t: Tenant, client, db: Session):
    data = succeeded(t.member.get(f"{BASE}/oauth"), 200, "OAuth feature flags fetched successfully.")
    assert [f["name"] for f in data] == OAUTH and all(list(f) == FLAG_KEYS for f in data)
    # The login page reads them before sign-in: no credentials, the installation's defaults.
    r = client.get(LOGIN)
    assert r.status_code == 200, r.text
    defaults = {name: FEATURE_FLAGS[name][0] for name in OAUTH}
    assert r.json() == {
        "success": True,
        "message": "Login feature flags fetched successfully.",
        "data": defaults,
    }
    succeeded(
        t.admin.put(f"{BASE}/google-oauth", json={"is_enabled": True}),
        200,
        "Feature flag updated successfully.",
    )
    oauth = {f["name"]: f["is_enabled"] for f in t.member.get(f"{BASE}/oauth").json()["data"]}
    assert oauth["google_oauth"] is True
    assert client.get(LOGIN).json()["data"] == defaults  # an organisation's choice is not global


def test_admin_overrides_a_flag_for_the_organisation_and_resets_it(t: Tenant, other: Actor, db: Session):
    path = f"{BASE}/dall-e"
    data = succeeded(t.admin.put(path, json={"is_enabled": True}), 200, "Feature flag updated successfully.")
    assert list(data) == FLAG_KEYS
    assert (data["name"], data["is_enabled"], data["default_is_enabled"], data["is_overridden"]) == (
        "dalle", True, False, True,
    )  # fmt: skip
    assert (
        data["organization"] == t.org.id and data["created_by"] == t.admin.email and data["modified_by"] == ""
    )
    assert flag(t.member, "dalle")["is_enabled"] is True
    listed = {f["name"]: f for f in t.member.get(BASE).json()["data"]}
    assert listed["dalle"]["is_enabled"] is True and listed["share_agent"]["is_overridden"] is False
    # Another organisation keeps the default.
    assert flag(other, "dalle")["is_enabled"] is False and flag(other, "dalle")["is_overridden"] is False

    changed = succeeded(
        t.admin.put(path, json={"is_enabled": False}), 200, "Feature flag updated successfully."
    )
    assert changed["is_enabled"] is False and changed["is_overridden"] is True
    assert changed["modified_by"] == t.admin.email and changed["id"] == data["id"]
    assert overrides(db) == 1

    reset = succeeded(t.admin.delete(path), 200, "Feature flag reset to default successfully.")
    assert reset["is_enabled"] is False and reset["is_overridden"] is False and reset["organization"] is None
    assert overrides(db) == 0
    # Resetting a flag already at its default changes nothing.
    succeeded(t.admin.delete(path), 200, "Feature flag reset to default successfully.")
    # Overriding a default-on flag off.
    off = succeeded(
        t.admin.put(f"{BASE}/share_agent", json={"is_enabled": False}),
        200,
        "Feature flag updated successfully.",
    )
    assert off["is_enabled"] is False and off["default_is_enabled"] is True


def test_flag_changes_bad_input_and_non_admins_write_nothing(t: Tenant, db: Session):
    path = f"{BASE}/dalle"
    for payload in ({}, {"is_enabled": "yes"}, {"is_enabled": None}, {"is_enabled": 1}, [True]):
        assert_error(t.admin.put(path, json=payload), 400)
    assert_error(t.admin.put(path, content=b"{oops", headers=JSON), 400, "Malformed JSON body.")
    for method in ("PUT", "DELETE"):
        assert_error(
            t.admin.request(method, f"{BASE}/dark-mode", json={"is_enabled": True}),
            404,
            "Feature flag not found.",
        )
    # "oauth" names a group of flags, not a flag.
    assert_error(t.admin.put(f"{BASE}/oauth", json={"is_enabled": True}), 404, "Feature flag not found.")
    for method in ("PUT", "DELETE"):
        assert_error(
            t.member.request(method, path, json={"is_enabled": True}),
            403,
            "Only organization administrators can change feature flags.",
        )
    assert overrides(db) == 0


def test_organisations_override_independently(t: Tenant, other: Actor, db: Session):
    succeeded(
        t.admin.put(f"{BASE}/dalle", json={"is_enabled": True}), 200, "Feature flag updated successfully."
    )
    # The other organisation's admin neither sees nor resets the first one's override.
    assert flag(other, "dalle")["is_enabled"] is False
    succeeded(other.delete(f"{BASE}/dalle"), 200, "Feature flag reset to default successfully.")
    assert flag(t.member, "dalle")["is_enabled"] is True
    theirs = succeeded(
        other.put(f"{BASE}/agent-alias", json={"is_enabled": False}),
        200,
        "Feature flag updated successfully.",
    )
    assert theirs["organization"] == other.org_id
    assert flag(t.member, "agent_alias")["is_enabled"] is True
    assert {f["name"] for f in t.member.get(BASE).json()["data"] if f["is_overridden"]} == {"dalle"}
    assert overrides(db) == 2


def test_read_only_and_restricted_keys(t: Tenant, world: World, db: Session):
    reads = [BASE, f"{BASE}/oauth", f"{BASE}/dall-e"]
    writes = [("PUT", f"{BASE}/dalle", {"is_enabled": True}), ("DELETE", f"{BASE}/dalle", None)]
    for scope, permissions in (("read_only", None), ("restricted", {"feature_flags": "read"})):
        assert_read_only(world.key_for(t.admin, scope, permissions), reads, writes)
    wrong_category = world.key_for(t.admin, "restricted", {"agents": "write", "notifications": "write"})
    for method, path, body in [*[("GET", p, None) for p in reads], *writes]:
        assert_error(wrong_category.request(method, path, json=body), 403)
    assert overrides(db) == 0
    writer = world.key_for(t.admin, "restricted", {"feature_flags": "write"})
    succeeded(
        writer.put(f"{BASE}/dalle", json={"is_enabled": True}), 200, "Feature flag updated successfully."
    )
    assert overrides(db) == 1
