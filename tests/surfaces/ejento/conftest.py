"""Fixtures the Ejento group tests share."""

from __future__ import annotations

import pytest

from tests.support.world import Actor, World


@pytest.fixture
def other(world: World) -> Actor:
    """An admin of another organisation."""
    return world.user(world.org("Other"), admin=True)
