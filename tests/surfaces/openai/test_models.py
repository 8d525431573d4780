"""``GET /v1/models`` and ``GET /v1/models/{model}``: the agents the caller may use, as models."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.support.world import World
from tests.surfaces.contextual.helpers import Caller, ok
from tests.surfaces.ejento.factories import _save, make_agent
from tests.surfaces.openai.conftest import Desk, assert_openai_error, model


def test_models_are_the_agents_the_caller_may_use(desk: Desk, world: World, db: Session):
    colleague = Caller(world.user(desk.org))
    private = make_agent(db, colleague, desk.project, name="Colleague's own")
    public = make_agent(db, colleague, desk.project, name="Everyone's", access="Public")
    deleted = make_agent(db, desk.owner, desk.project, name="Gone")
    deleted.is_deleted = True
    _save(db, deleted)
    other_org = world.org("Other")
    other = Caller(world.user(other_org, admin=True))
    foreign = make_agent(db, other, world.project(world.team(other_org)), name="Theirs")

    listing = ok(desk.owner.get("/v1/models"))
    assert set(listing) == {"object", "data"} and listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [model(desk.agent), model(public)]
    mine = listing["data"][0]
    assert mine == {
        "id": model(desk.agent),
        "object": "model",
        "created": int(desk.agent.created_on.timestamp()),
        "owned_by": desk.owner.email,
        "name": "Helpdesk",
        "alias": desk.agent.alias,
    }
    assert listing["data"][1]["owned_by"] == colleague.email and listing["data"][1]["alias"] is None

    # The model id, the plain id and the alias (in any case) name the same agent.
    for name in (model(desk.agent), str(desk.agent.id), desk.agent.alias.upper()):
        assert ok(desk.owner.get(f"/v1/models/{name}")) == mine
    assert ok(desk.owner.get(f"/v1/models/{model(public)}"))["name"] == "Everyone's"

    # Agents the caller may not use, and names of nothing, are "model not found".
    for name in (
        model(private),
        model(deleted),
        model(foreign),
        "agent-999999",
        "99999999999999999999999",
        "gpt-4o",
        "agent-",
    ):
        error = assert_openai_error(desk.owner.get(f"/v1/models/{name}"), 404, "model_not_found")
        assert name in error["message"]
    assert [m["id"] for m in ok(other.get("/v1/models"))["data"]] == [model(foreign)]
    assert_openai_error(other.get(f"/v1/models/{desk.agent.alias}"), 404, "model_not_found")


def test_models_need_a_key_that_may_read_agents(desk: Desk, world: World):
    assert_openai_error(desk.owner.client.get("/v1/models"), 401, "invalid_api_key")
    r = desk.owner.client.get("/v1/models", headers={"Authorization": "Bearer not-a-key"})
    assert_openai_error(r, 401, "invalid_api_key")
    reader = Caller(world.key_for(desk.owner.actor, "read_only"))
    assert [m["id"] for m in ok(reader.get("/v1/models"))["data"]] == [model(desk.agent)]
    no_agents = Caller(world.key_for(desk.owner.actor, "restricted", {"agent_responses": "write"}))
    assert_openai_error(no_agents.get("/v1/models"), 403, "insufficient_permissions")
    assert_openai_error(no_agents.get(f"/v1/models/{model(desk.agent)}"), 403, "insufficient_permissions")
