"""Arrange tenants, users and keys directly in the database, then act through HTTP."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from parley.accounts import service as accounts
from parley.accounts.models import Organization, Team, TeamMember, User
from parley.projects.models import Project
from parley.settings import Settings

_counter = itertools.count(1)


@dataclass(eq=False)
class Actor:
    """A user with an API key, calling the API through the test client."""

    client: TestClient
    user: User
    secret: str
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def org_id(self) -> int:
        return self.user.org_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Ocp-Apim-Subscription-Key": self.secret, **self.extra_headers}

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)


class World:
    def __init__(self, db: Session, settings: Settings, client: TestClient) -> None:
        self.db = db
        self.settings = settings
        self.client = client

    def org(self, name: str | None = None) -> Organization:
        org = accounts.create_organization(self.db, name or f"Org {next(_counter)}")
        self.db.commit()
        return org

    def user(
        self,
        org: Organization,
        *,
        email: str | None = None,
        admin: bool = False,
        password: str = "correct horse battery",
        scope: str = "all",
        permissions: dict[str, str] | None = None,
    ) -> Actor:
        n = next(_counter)
        user = accounts.create_user(
            self.db,
            org_id=org.id,
            email=email or f"user{n}@org{org.id}.example.com",
            password=password,
            first_name=f"First{n}",
            last_name=f"Last{n}",
            is_superuser=admin,
            created_by="tests",
        )
        _, secret = accounts.create_api_key(
            self.db, user=user, settings=self.settings, name="test", scope=scope, permissions=permissions
        )
        self.db.commit()
        return Actor(self.client, user, secret)

    def key_for(self, actor: Actor, scope: str, permissions: dict[str, str] | None = None) -> Actor:
        """Another key of the same user, with a different scope."""
        _, secret = accounts.create_api_key(
            self.db, user=actor.user, settings=self.settings, scope=scope, permissions=permissions
        )
        self.db.commit()
        return Actor(self.client, actor.user, secret)

    def team(
        self, org: Organization, members: dict[Actor, str] | None = None, name: str | None = None
    ) -> Team:
        team = Team(org_id=org.id, team_name=name or f"Team {next(_counter)}", created_by="tests")
        self.db.add(team)
        self.db.flush()
        for actor, role in (members or {}).items():
            self.db.add(TeamMember(team_id=team.id, user_id=actor.id, role=role))
        self.db.commit()
        return team

    def project(self, team: Team, name: str | None = None) -> Project:
        project = Project(
            org_id=team.org_id,
            team_id=team.id,
            project_name=name or f"Project {next(_counter)}",
            created_by="tests",
        )
        self.db.add(project)
        self.db.commit()
        return project

    def reload(self, model: type, entity_id: int) -> Any:
        self.db.expire_all()
        return self.db.get(model, entity_id)
