"""Two organisations full of real data, made through the API on every surface, for the isolation
and bad-input tests.

Every name and text a tenant writes carries its ``label`` (a word found nowhere else), so a
response that leaks another tenant's rows shows it by containing that label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jwt
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import ApiKey, Organization
from parley.accounts.security import digest
from parley.surfaces.contextual import ids as contextual_ids
from parley.surfaces.contextual.ids import Kind
from parley.usage.models import LLMUsageRecord
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import add_text, poll

SO = "/api/v1/Agents/AI"


def caller(db: Session, actor: Actor) -> Actor:
    """The same key sent every way a surface reads one: the Ejento subscription header, a bearer
    token (Contextual, SuperOffice) and a JWT signed with it (Kore's ``auth`` header)."""
    db.rollback()
    client_id = db.scalar(select(ApiKey.client_id).where(ApiKey.secret_hash == digest(actor.secret)))
    token = jwt.encode({"sub": "reliability", "appId": client_id}, actor.secret, algorithm="HS256")
    return Actor(
        actor.client, actor.user, actor.secret, {"Authorization": f"Bearer {actor.secret}", "auth": token}
    )


def made(r: Response, *statuses: int) -> Any:
    assert r.status_code in (statuses or (200, 201)), (r.request.method, r.request.url, r.text)
    body = r.json()
    return body.get("data", body) if isinstance(body, dict) and "success" in body else body


@dataclass
class Tenant:
    label: str  # in every name and text of the organisation's
    private_label: str  # in every name and text only the owner may see
    org: Organization
    admin: Actor
    owner: Actor  # owns the private rows; Owner of team ``team``
    member: Actor  # a plain Member of another team
    ids: dict[str, int] = field(default_factory=dict)  # kind -> one row of that kind
    public_ids: set[str] = field(default_factory=set)  # Contextual UUIDs of the tenant's rows
    private_kinds: set[str] = field(default_factory=set)  # kinds the owner's teammates cannot see

    @property
    def actors(self) -> list[Actor]:
        return [self.admin, self.owner, self.member]


def populate(world: World, db: Session, label: str) -> Tenant:
    """One organisation: an admin, a team Owner who owns private rows on every surface, and a
    plain Member of another team; documents ingested, questions answered, usage recorded."""
    mine = f"{label}own"  # in every private row of the owner's
    org = world.org(f"{label} Org")
    admin = caller(world.db, world.user(org, email=f"admin@{label}.example.com", admin=True))
    owner = caller(world.db, world.user(org, email=f"owner@{label}.example.com"))
    member = caller(world.db, world.user(org, email=f"member@{label}.example.com"))
    team = world.team(org, {owner: "Owner"}, name=f"{mine} team")
    other_team = world.team(org, {member: "Member"}, name=f"{label} other team")
    project = world.project(team, name=f"{mine} project")
    world.project(other_team, name=f"{label} other project")
    t = Tenant(label, mine, org, admin, owner, member)
    ids = t.ids
    ids.update(organization=org.id, user=owner.id, team=team.id, project=project.id)

    # Agents, corpora, documents (through the ingestion pipeline) and their links.
    agent = made(
        owner.post(
            "/v2/api/agent", json={"project_id": project.id, "name": f"{mine} agent", "access": "Only me"}
        )
    )
    ids["agent"] = agent["id"]
    ids["corpus"] = made(owner.post("/v2/api/corpus", json={"name": f"{mine} corpus"}))["id"]
    text = f"{mine} handbook\n\nThe {mine} refund window is thirty days from delivery for every order.\n"
    ids["document"] = add_text(owner, ids["corpus"], text)["id"]
    assert poll(owner, ids["document"])["status"] == "completed"
    made(owner.post(f"/v2/api/agent/{ids['agent']}/corpus/{ids['corpus']}"))

    # Answers: a thread, an agent response and usage records.
    question = {"user_query": f"What is the {mine} refund window?"}
    answer = made(owner.post(f"/api/v2/agents/{ids['agent']}/responses", json=question))
    ids["response"] = answer["agent_response_id"]
    ids["thread"] = answer["thread_id"]
    made(owner.post(f"/v2/api/agent/{ids['agent']}/chat-thread", json={"title": f"{mine} thread"}))
    made(owner.post(f"/v2/api/agent-response/{ids['response']}/comment", json={"comment": f"{mine} note"}))
    made(owner.post(f"/v2/api/agent-response/{ids['response']}/feedback", json={"vote_type": "up"}))
    made(owner.put(f"/v2/api/agent/{ids['agent']}/response/{ids['response']}/pin"))

    # Agent extras.
    a = ids["agent"]
    ids["agent_comment"] = made(owner.post(f"/v2/api/agent/{a}/comment", json={"comment": f"{mine} remark"}))[
        "id"
    ]
    ids["starter"] = made(
        owner.post(f"/v2/api/agent/{a}/conversation-starter", json={"starter": f"{mine} hi"})
    )["id"]
    made(owner.post(f"/v2/api/agent/{a}/alias", json={"alias": f"{mine}@agents.example.com"}))
    made(owner.put(f"/v2/api/agent/{a}/tags", json={"add": [f"{mine}tag"]}))
    made(owner.post(f"/v2/api/agent/{a}/starred"))
    made(owner.post(f"/v2/api/agent/{a}/recent"))
    ids["review"] = made(
        owner.post(f"/v2/api/agent/{a}/review", json={"review": f"{mine} review", "rating": 4})
    )["id"]
    grant = {"team_id": team.id, "permission": "read"}
    ids["corpus_permission"] = made(owner.post(f"/v2/api/corpus/{ids['corpus']}/permission", json=grant))[
        "id"
    ]

    # The owner's own things: a key, a notification, a mailbox authorization.
    ids["api_key"] = made(owner.post("/v2/api/api-key", json={"name": f"{mine} key"}))["id"]
    notice = {"title": f"{mine} notice", "message": f"{mine} message"}
    ids["notification"] = made(owner.post("/v2/api/notification", json=notice))["id"]
    mailbox = {
        "mailbox": f"{mine}@mail.example.com",
        "provider": "imap",
        "host": "imap.example.com",
        "password": f"{mine}-mail-secret",
    }
    ids["email_authorization"] = made(owner.post("/v2/api/email-indexing/authorize", json=mailbox))["id"]

    # Organisation-wide rows an admin manages: an LLM config, an API tool template and tool.
    config = {"name": f"{label} config", "provider": "offline", "model": f"{label}-model"}
    ids["llm_config"] = made(admin.post("/v2/api/llm-config", json=config))["id"]
    template = {"name": f"{label} template", "url_template": f"https://{label}.example.com/search"}
    ids["tool_template"] = made(admin.post("/v2/api/api-tool-template", json=template))["id"]
    tool = {"name": f"{label} tool", "api_tool_template_id": ids["tool_template"]}
    ids["tool"] = made(admin.post("/v2/api/tool", json=tool))["id"]
    made(owner.post(f"/v2/api/agent/{a}/tool/{ids['tool']}"))

    # The other surfaces: a Contextual datastore, document, agent and query; a SuperOffice turn.
    datastore = made(owner.post("/v1/datastores", json={"name": f"{mine} datastore"}))["id"]
    files = {"file": (f"{mine}.md", f"# {mine} guide\n\nThe {mine} office opens at nine.\n", "text/markdown")}
    document = made(owner.post(f"/v1/datastores/{datastore}/documents", files=files))["id"]
    contextual_agent = made(
        owner.post("/v1/agents", json={"name": f"{mine} contextual agent", "datastore_ids": [datastore]})
    )["id"]
    t.public_ids.update({datastore, document, contextual_agent})
    document_row = contextual_ids.decode(Kind.DOCUMENT, document)
    assert poll(owner, document_row)["status"] == "completed"
    query = {"messages": [{"role": "user", "content": f"When does the {mine} office open?"}], "stream": False}
    message = made(owner.post(f"/v1/agents/{contextual_agent}/query", json=query))["message_id"]
    t.public_ids.add(message)
    made(admin.post(f"{SO}/SetChatbotBinding", json={"AgentId": ids["agent"], "UserId": owner.id}))
    turn = {"ChatId": f"{mine}-chat", "UserPrompt": f"What is the {mine} refund window?"}
    made(owner.post(f"{SO}/GetChatbotResponse", json=turn))
    db.rollback()
    ids["usage_record"] = db.scalar(
        select(LLMUsageRecord.id).where(LLMUsageRecord.user_id == owner.id).order_by(LLMUsageRecord.id)
    )
    t.private_kinds.update(
        {
            "agent", "corpus", "document", "thread", "response", "agent_comment", "starter", "review",
            "corpus_permission", "api_key", "notification", "email_authorization", "team", "project",
        }
    )  # fmt: skip
    return t
