"""Fixtures of the Contextual AI surface tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from parley.accounts.models import Organization
from tests.support.world import World
from tests.surfaces.contextual.helpers import Caller


@dataclass
class Tenant:
    org: Organization
    owner: Caller
    colleague: Caller  # same organisation, not an admin
    admin: Caller


@pytest.fixture
def acme(world: World) -> Tenant:
    org = world.org("Acme")
    return Tenant(org, Caller(world.user(org)), Caller(world.user(org)), Caller(world.user(org, admin=True)))


@pytest.fixture
def other(world: World) -> Caller:
    """An administrator of another organisation."""
    return Caller(world.user(world.org("Other"), admin=True))
