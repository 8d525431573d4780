"""SuperOffice authorization schemes, chatbot bindings, API key scopes, organisation isolation
and bad input (SuperOffice's error shape, nothing written)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from parley.accounts import service as accounts
from parley.accounts.models import ApiKey, Organization, User
from parley.accounts.security import digest
from parley.agents.models import Agent
from parley.integrations.models import SurfaceBinding
from parley.responses.models import AgentResponse
from parley.threads.models import ChatThread
from parley.usage.models import LLMUsageRecord
from tests.surfaces.ejento.factories import count, fresh, make_agent
from tests.surfaces.superoffice.support import (
    AI,
    TURN_KEYS,
    assert_so_error,
    basic,
    bearer,
    bind,
    make_desk,
    so_post,
)

CHALLENGE = 'Basic realm="SuperOffice Username or Ticket"'
NO_BINDING = "No agent is bound to the SuperOffice chatbot"
CALLS = ("GetChatbotResponse", "GetChatbotTurns", "ClearChatbotTurns", "GetChatbotPromptSuggestions")


@pytest.fixture
def desk(world, db):  # type: ignore[no-untyped-def]
    """A bound chatbot without documents: no answer here needs them."""
    return make_desk(world, db, documents=())


def _ask(headers, world, chat_id="c-1", prompt="Hello?"):  # type: ignore[no-untyped-def]
    return so_post(headers, world, "GetChatbotResponse", json={"ChatId": chat_id, "UserPrompt": prompt})


def _client_id(db, actor):  # type: ignore[no-untyped-def]
    return db.scalar(select(ApiKey.client_id).where(ApiKey.secret_hash == digest(actor.secret)))


def _nothing_written(db) -> None:  # type: ignore[no-untyped-def]
    assert count(db, ChatThread) == 0 and count(db, AgentResponse) == 0 and count(db, LLMUsageRecord) == 0


# -- authorization -------------------------------------------------------------------------------


def test_missing_or_bad_credentials_get_the_challenge(desk, world, db):
    cases = [
        {},
        {"Authorization": "Basic"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic dXNlcm5hbWVvbmx5"},  # "usernameonly": no colon
        basic(desk.owner.email, "wrong password"),
        basic("nobody@example.com"),
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Digest abc"},
        {"X-XSRF-TOKEN": "abc"},
    ]
    for name in CALLS:
        for headers in cases:
            r = so_post(headers, world, name, json={"ChatId": "c-1", "UserPrompt": "Hello?"})
            assert_so_error(r, 401)
            assert r.headers["www-authenticate"] == CHALLENGE
    r = so_post({"Authorization": "SOTicket 7T:abc=="}, world, "GetChatbotResponse", json={"ChatId": "c"})
    assert_so_error(r, 401, "SoTicket authentication is not configured")
    assert r.headers["www-authenticate"] == CHALLENGE
    # Configured, a ticket is checked as a Parley credential: a wrong one is still refused.
    world.settings.auth.accept_soticket = True
    r = so_post({"Authorization": "SOTicket 7T:abc=="}, world, "GetChatbotResponse", json={"ChatId": "c"})
    assert_so_error(r, 401, "Invalid or expired token")
    world.settings.auth.accept_soticket = False
    # Credentials are checked before the body is read.
    r = so_post({}, world, "GetChatbotResponse", content=b"<not xml", headers={"Content-Type": "text/xml"})
    assert_so_error(r, 401)
    _nothing_written(db)


def test_a_configured_soticket_is_a_parley_api_key(desk, world, db):
    world.settings.auth.accept_soticket = True
    r = _ask({"Authorization": f"SoTicket {desk.owner.secret}"}, world, chat_id="ticket-c")
    assert r.status_code == 200 and r.json()["BotResponse"], r.text


def test_basic_bearer_key_and_bearer_login_token(desk, world, db):
    fresh(db)
    user = db.get(User, desk.owner.id)
    login = accounts.issue_tokens(db, user, world.settings)
    db.commit()
    for n, headers in enumerate(
        [basic(desk.owner.email), basic(desk.owner.email.upper()), bearer(desk.owner),
         {"Authorization": f"bearer {login['access_token']}"}]
    ):  # fmt: skip
        r = _ask(headers, world, chat_id=f"c-{n}")
        assert r.status_code == 200, r.text
        assert list(r.json()) == TURN_KEYS
    fresh(db)
    assert {t.user_id for t in db.scalars(select(ChatThread))} == {desk.owner.id}
    # A deactivated user can no longer sign in with a password or a key.
    db.execute(update(User).where(User.id == desk.owner.id).values(is_active=False))
    db.commit()
    assert_so_error(_ask(basic(desk.owner.email), world), 401)
    assert_so_error(_ask(bearer(desk.owner), world), 401)


def test_read_only_keys_read_but_do_not_write(desk, world, db):
    assert _ask(bearer(desk.owner), world).status_code == 200
    read_only = bearer(world.key_for(desk.owner, "read_only"))
    assert_so_error(_ask(read_only, world, chat_id="c-2"), 403)
    assert_so_error(so_post(read_only, world, "ClearChatbotTurns", json={"ChatId": "c-1"}), 403)
    assert len(so_post(read_only, world, "GetChatbotTurns", json={"ChatId": "c-1"}).json()) == 1
    assert so_post(read_only, world, "GetChatbotPromptSuggestions", json={}).status_code == 200
    admin_read_only = bearer(world.key_for(desk.admin, "read_only"))
    r = so_post(admin_read_only, world, "SetChatbotBinding", json={"AgentId": desk.agent.id})
    assert_so_error(r, 403)
    assert so_post(admin_read_only, world, "GetChatbotBindings").status_code == 200
    restricted = bearer(world.key_for(desk.owner, "restricted", {"agent_responses": "write"}))
    assert _ask(restricted, world, chat_id="c-3").status_code == 200
    assert_so_error(so_post(restricted, world, "GetChatbotTurns", json={"ChatId": "c-3"}), 403)
    assert count(db, ChatThread, ChatThread.chat_id == "c-2") == 0


# -- bindings ------------------------------------------------------------------------------------


def test_without_a_binding_the_calls_say_how_to_configure_one(world, db):
    org = world.org("Unbound")
    user = world.user(org)
    for name in CALLS:
        r = so_post(basic(user.email), world, name, json={"ChatId": "c-1", "UserPrompt": "Hello?"})
        assert_so_error(r, 404, NO_BINDING)
        assert "SetChatbotBinding" in r.json()["Message"]
    _nothing_written(db)


def test_a_key_binding_beats_a_user_binding_beats_the_default(desk, world, db):
    project = world.project(world.team(desk.org, {desk.owner: "Owner"}))
    for_user = make_agent(db, desk.owner, project, name="User bot", access="Public")
    for_key = make_agent(db, desk.owner, project, name="Key bot", access="Public")
    key = world.key_for(desk.owner, "all")
    colleague = world.user(desk.org)

    def name(headers):  # type: ignore[no-untyped-def]
        r = so_post(headers, world, "GetChatbotPromptSuggestions", json={"IsoLangCode": "en"})
        assert r.status_code == 200, r.text
        return r.json()["BotResponse"]

    assert name(bearer(key)) == "Hi! I'm Helpdesk. What can I help you with?"
    bind(world, desk.admin, for_user.id, UserId=desk.owner.id)
    bound = bind(world, desk.admin, for_key.id, ApiKeyClientId=_client_id(db, key))
    assert bound["AgentId"] == for_key.id and bound["UserId"] is None
    assert bound["ApiKeyClientId"] == _client_id(db, key)
    assert "Key bot" in name(bearer(key))
    assert "User bot" in name(bearer(desk.owner)) and "User bot" in name(basic(desk.owner.email))
    assert "Helpdesk" in name(bearer(colleague))
    # An answer goes to the bound agent, in a thread of its own.
    assert _ask(bearer(key), world).status_code == 200
    fresh(db)
    assert db.scalars(select(ChatThread.agent_id)).all() == [for_key.id]


def test_managing_bindings(desk, world, db):
    admin = bearer(desk.admin)
    listed = so_post(admin, world, "GetChatbotBindings").json()
    default = {"BindingId": listed[0]["BindingId"], "AgentId": desk.agent.id, "UserId": None}
    assert listed == [{**default, "ApiKeyClientId": None}]
    # Setting the same target again replaces its agent.
    other_agent = make_agent(db, desk.owner, world.project(world.team(desk.org, {desk.owner: "Owner"})))
    again = bind(world, desk.admin, other_agent.id)
    assert again["BindingId"] == listed[0]["BindingId"] and again["AgentId"] == other_agent.id
    user_binding = bind(world, desk.admin, desk.agent.id, UserId=desk.owner.id)
    assert user_binding["UserId"] == desk.owner.id
    assert len(so_post(admin, world, "GetChatbotBindings").json()) == 2
    r = so_post({**admin, "Accept": "application/xml"}, world, "GetChatbotBindings", json={})
    assert r.text.count("<ChatbotBinding>") == 2 and "<ArrayOfChatbotBinding" in r.text
    assert so_post(admin, world, "ClearChatbotBinding", json={"UserId": desk.owner.id}).status_code == 204
    assert_so_error(so_post(admin, world, "ClearChatbotBinding", json={"UserId": desk.owner.id}), 404)
    assert so_post(admin, world, "ClearChatbotBinding", json={}).status_code == 204
    assert so_post(admin, world, "GetChatbotBindings").json() == []
    assert_so_error(_ask(bearer(desk.owner), world), 404, NO_BINDING)


def test_binding_input_is_checked_and_admins_only(desk, world, db):
    admin = bearer(desk.admin)
    other = world.user(world.org("Other"), admin=True)
    other_team = world.team(world.reload(Organization, other.org_id), {other: "Owner"})
    foreign_agent = make_agent(db, other, world.project(other_team))
    before = count(db, SurfaceBinding)
    cases = [
        ({"AgentId": foreign_agent.id}, 404),
        ({"AgentId": 999_999}, 404),
        ({"AgentId": desk.agent.id, "UserId": other.id}, 404),
        ({"AgentId": desk.agent.id, "ApiKeyClientId": _client_id(db, other)}, 404),
        ({"AgentId": desk.agent.id, "ApiKeyClientId": "cs-unknown"}, 404),
        (
            {"AgentId": desk.agent.id, "UserId": desk.owner.id, "ApiKeyClientId": _client_id(db, desk.owner)},
            400,
        ),
        ({"AgentId": "seven"}, 400),
        ({"AgentId": 0}, 400),
        ({"AgentId": 2**70}, 400),
        ({}, 400),
    ]
    for body, status in cases:
        assert_so_error(so_post(admin, world, "SetChatbotBinding", json=body), status)
    for headers in (bearer(desk.owner), basic(desk.owner.email)):
        assert_so_error(so_post(headers, world, "SetChatbotBinding", json={"AgentId": desk.agent.id}), 403)
        assert_so_error(so_post(headers, world, "GetChatbotBindings"), 403)
        assert_so_error(so_post(headers, world, "ClearChatbotBinding", json={}), 403)
    assert count(db, SurfaceBinding) == before
    # Another organisation's admin sees none of these bindings.
    assert so_post(bearer(other), world, "GetChatbotBindings").json() == []


def test_a_bound_agent_the_caller_cannot_see_is_not_found(desk, world, db):
    private = make_agent(db, desk.admin, world.project(world.team(desk.org, {desk.admin: "Owner"})))
    bind(world, desk.admin, private.id)
    assert_so_error(_ask(bearer(desk.owner), world), 404, "Agent not found")
    _nothing_written(db)


# -- isolation -----------------------------------------------------------------------------------


def test_chat_ids_are_per_organisation_and_user(desk, world, db):
    assert _ask(bearer(desk.owner), world, chat_id="ticket-1").status_code == 200
    colleague = world.user(desk.org)
    outsider_org = world.org("Other")
    outsider_admin = world.user(outsider_org, admin=True)
    outsider_project = world.project(world.team(outsider_org, {outsider_admin: "Owner"}))
    theirs = make_agent(db, outsider_admin, outsider_project, access="Public")
    bind(world, outsider_admin, theirs.id)
    for stranger in (colleague, outsider_admin):
        turns = so_post(bearer(stranger), world, "GetChatbotTurns", json={"ChatId": "ticket-1"})
        assert turns.status_code == 200 and turns.json() == []
        assert (
            so_post(bearer(stranger), world, "ClearChatbotTurns", json={"ChatId": "ticket-1"}).status_code
            == 204
        )
    # The owner's history is untouched, and a stranger's own "ticket-1" is a new thread.
    assert len(so_post(bearer(desk.owner), world, "GetChatbotTurns", json={"ChatId": "ticket-1"}).json()) == 1
    assert _ask(bearer(outsider_admin), world, chat_id="ticket-1").status_code == 200
    fresh(db)
    threads = db.scalars(
        select(ChatThread).where(ChatThread.chat_id == "ticket-1").order_by(ChatThread.id)
    ).all()
    assert [(t.org_id, t.user_id, t.agent_id, t.is_deleted) for t in threads] == [
        (desk.org.id, desk.owner.id, desk.agent.id, False),
        (outsider_org.id, outsider_admin.id, theirs.id, False),
    ]


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("application/json", b'{"ChatId": "c-1", "UserPrompt": ', 400, "Malformed JSON"),
        ("application/json", b'["ChatId"]', 400, "object"),
        ("application/json", b'{"ChatId": "c-1"}', 400, "UserPrompt"),
        ("application/json", b'{"ChatId": "c-1", "UserPrompt": "   "}', 400, "UserPrompt"),
        ("application/json", b'{"ChatId": "c-1", "UserPrompt": null}', 400, "UserPrompt"),
        ("application/json", b'{"UserPrompt": "Hello?"}', 400, "ChatId"),
        ("application/json", b'{"ChatId": " ", "UserPrompt": "Hello?"}', 400, "ChatId"),
        ("application/json", b'{"ChatId": "' + b"x" * 201 + b'", "UserPrompt": "Hi"}', 400, "ChatId"),
        ("application/json", b'{"ChatId": "c", "UserPrompt": "Hi", "PreviousTurns": 1}', 400, "Previous"),
        ("application/json", b'{"ChatId": "c", "UserPrompt": "Hi", "PreviousTurns": [{"UserPrompt": 5}]}',
         400, "PreviousTurns.0.UserPrompt"),
        ("application/json", b'{"ChatId": "c", "UserPrompt": "Hi\\u0000there"}', 400, None),
        ("application/xml", b"<request><ChatId>c-1</ChatId><UserPrompt>Hi", 400, "Malformed XML"),
        ("application/xml", b'<!DOCTYPE r [<!ENTITY x "y">]><r><UserPrompt>&x;</UserPrompt></r>',
         400, "document type"),
        ("text/xml", b"<request><ChatId>c-1</ChatId></request>", 400, "UserPrompt"),
        ("text/plain", b"ChatId=c-1", 415, "Content-Type"),
        ("multipart/form-data; boundary=x", b"--x--", 415, "Content-Type"),
    ],
)  # fmt: skip
def test_bad_bodies_are_refused_and_write_nothing(desk, world, db, content_type, body, status, message):
    headers = {"Content-Type": content_type}
    r = so_post(basic(desk.owner.email), world, "GetChatbotResponse", content=body, headers=headers)
    assert_so_error(r, status, message)
    _nothing_written(db)


def test_unacceptable_accept_and_wrong_methods(desk, world, db):
    body = {"ChatId": "c-1", "UserPrompt": "Hello?"}
    r = so_post({**basic(desk.owner.email), "Accept": "image/png"}, world, "GetChatbotResponse", json=body)
    assert_so_error(r, 406)
    r = so_post(
        {**basic(desk.owner.email), "Accept": "application/xml;q=0"}, world, "GetChatbotTurns", json=body
    )
    assert_so_error(r, 406)
    _nothing_written(db)
    for method in ("GET", "PUT", "DELETE"):
        r = world.client.request(method, f"{AI}/GetChatbotResponse", headers=basic(desk.owner.email))
        assert_so_error(r, 405)
    bad_id = {"CurrentId": "not a number"}
    prompt_suggestions = so_post(basic(desk.owner.email), world, "GetChatbotPromptSuggestions", json=bad_id)
    assert_so_error(prompt_suggestions, 400, "CurrentId")


def test_prompt_suggestions_in_the_callers_language(desk, world, db):
    fresh(db)
    samples = {"sample_q1": "How are refunds paid?", "sample_q2": "When does vacation expire?"}
    db.execute(update(Agent).where(Agent.id == desk.agent.id).values(**samples))
    db.commit()
    headers = basic(desk.owner.email)

    def suggest(body, **extra):  # type: ignore[no-untyped-def]
        r = so_post({**headers, **extra}, world, "GetChatbotPromptSuggestions", json=body)
        assert r.status_code == 200, r.text
        return r

    r = suggest({"IsoLangCode": "no", "SoProtocol": "contact.main.activities", "CurrentId": 43})
    turn = r.json()
    assert list(turn) == TURN_KEYS and r.headers["content-language"] == "no"
    assert turn["BotResponse"] == "Hei! Jeg er Helpdesk. Hva kan jeg hjelpe deg med?"
    assert turn["BotActions"] == {
        "How are refunds paid?": "How are refunds paid?",
        "When does vacation expire?": "When does vacation expire?",
    }
    assert turn["UserPrompt"] is None and turn["UserDisplayText"] is None and turn["Attachments"] == []
    assert (
        suggest({}, **{"SO-Language": "de", "Accept-Language": "sv"})
        .json()["BotResponse"]
        .startswith("Hallo!")
    )
    assert (
        suggest({}, **{"SO-Language": "*", "Accept-Language": "sv-SE,sv;q=0.9"})
        .json()["BotResponse"]
        .startswith("Hej!")
    )
    assert suggest({"IsoLangCode": "ja"}).json()["BotResponse"].startswith("Hi!")
    assert suggest({}).headers["content-language"] == "en"
    # Suggestions write nothing.
    _nothing_written(db)
