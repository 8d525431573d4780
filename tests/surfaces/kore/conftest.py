"""Kore usage-log fixtures: a bot (agent) with its owner, JWTs signed with API key secrets, and
usage records inserted directly (for filters and sorting) next to those real answers write."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import ApiKey, Organization
from parley.accounts.security import digest
from parley.agents.models import Agent
from parley.usage.models import LLMUsageRecord
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import _save, make_agent

_task = itertools.count(1)
SEED_TASK = "dg-d4924db4-b325-5b4d-ae51-aa5c7be41d4f"
SEED_CHANNEL_USER = (
    "29:1gmw8z03rvk6njl6k7ohtdh2v9zubxiip7kvu1yiek_qri4grpmd0k_d1yjlpzbj40wk1am9dphqkoiwatzwttw"
)
RECORD_KEYS = [
    "Prompt Name", "Integration", "start Date", "End Date", "Time Taken", "statusCode", "Bot ID", "User ID",
    "Feature Name ", "Model Name", "Channel Name", "Description", "task Id", "Status", "Payload Details",
]  # fmt: skip
PAYLOAD_KEYS = ["Prompt Name", "Request Payload", "Response Payload", "Request Tokens", "Response Tokens"]


@dataclass
class Bot:
    org: Organization
    owner: Actor
    agent: Agent

    @property
    def id(self) -> str:
        return f"st-{self.agent.id}"


def client_id(db: Session, actor: Actor) -> str:
    db.rollback()
    found = db.scalar(select(ApiKey.client_id).where(ApiKey.secret_hash == digest(actor.secret)))
    assert found is not None
    return found


def sign(db: Session, actor: Actor, algorithm: str = "HS256", **claims: Any) -> str:
    """A token as Kore's recipe makes one: ``sub`` and ``appId``, signed with the key's secret."""
    return jwt.encode(
        {"sub": "1234567890", "appId": client_id(db, actor), **claims}, actor.secret, algorithm=algorithm
    )


def usage_logs(world: World, bot_id: str, token: str | None, body: Any, prefix: str = "/api") -> Response:
    headers = {"auth": token} if token is not None else {}
    return world.client.post(f"{prefix}/1.1/public/bot/{bot_id}/getLLMUsageLogs", headers=headers, json=body)


def assert_kore_error(r: Response, status: int, code: int | None = None, msg: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1
    error = body["errors"][0]
    assert set(error) == {"msg", "code"} and isinstance(error["msg"], str) and error["msg"]
    assert error["code"] == (status if code is None else code)
    if msg is not None:
        assert error["msg"] == msg
    return error


def add_record(db: Session, bot: Bot, start: datetime, **fields: Any) -> LLMUsageRecord:
    """One model call of the bot, as the answer path records it."""
    taken = fields.pop("time_taken_ms", 1000)
    values: dict[str, Any] = {
        "org_id": bot.org.id,
        "agent_id": bot.agent.id,
        "user_id": bot.owner.id,
        "prompt_name": "answer",
        "integration": "openai",
        "feature_name": "generation",
        "model_name": "gpt-4-0613",
        "channel": "web",
        "task_id": f"task-{next(_task)}",
        "description": "generation for agent",
        "start_time": start,
        "end_time": start + timedelta(milliseconds=taken),
        "time_taken_ms": taken,
        "status_code": 200,
        "status": "success",
        "request_payload": {"model": "gpt-4", "messages": [{"role": "user", "content": "Order pizza"}]},
        "response_payload": {"id": "chatcmpl-1", "usage": {"prompt_tokens": 614, "completion_tokens": 74}},
        "request_tokens": 614,
        "response_tokens": 74,
        **fields,
    }
    return _save(db, LLMUsageRecord(**values))


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A time in March 2024, the month of the seed's sample."""
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def bot(world: World, db: Session) -> Bot:
    org = world.org("Pizza")
    owner = world.user(org)
    agent = make_agent(db, owner, world.project(world.team(org, {owner: "Owner"})), name="Pizza bot")
    return Bot(org, owner, agent)
