"""Tools agents can use, API tool templates, and which agents and organisations enable them."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import AuditMixin, Base, IdMixin, IdType, JsonType, SoftDeleteMixin


class ApiToolTemplate(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    """An HTTP call an agent may make: method, URL template, parameters and auth."""

    __tablename__ = "api_tool_templates"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(10), default="GET")
    url_template: Mapped[str] = mapped_column(Text)
    # JSON schema of the parameters the model fills in.
    parameters: Mapped[dict] = mapped_column(JsonType, default=dict)
    headers: Mapped[dict] = mapped_column(JsonType, default=dict)
    body_template: Mapped[str | None] = mapped_column(Text, nullable=True)
    # {"type": "none" | "bearer" | "header" | "basic", "secret_ref": ..., "header": ...}
    auth: Mapped[dict] = mapped_column(JsonType, default=dict)
    timeout_seconds: Mapped[float] = mapped_column(default=10.0)


class Tool(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    """A capability: built-in ones (org_id null, e.g. "Rag Tool") or an organisation's API tools."""

    __tablename__ = "tools"

    org_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("organizations.id"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    tool_type: Mapped[str] = mapped_column(String(30), default="api")  # rag | attachment | api
    api_tool_template_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("api_tool_templates.id"), nullable=True
    )
    config: Mapped[dict] = mapped_column(JsonType, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class AgentTool(IdMixin, AuditMixin, Base):
    __tablename__ = "agent_tools"
    __table_args__ = (UniqueConstraint("agent_id", "tool_id"),)

    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    tool_id: Mapped[int] = mapped_column(IdType, ForeignKey("tools.id", ondelete="CASCADE"))
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class OrganizationTool(IdMixin, AuditMixin, Base):
    __tablename__ = "organization_tools"
    __table_args__ = (UniqueConstraint("org_id", "tool_id"),)

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    tool_id: Mapped[int] = mapped_column(IdType, ForeignKey("tools.id", ondelete="CASCADE"))
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
