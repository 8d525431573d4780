"""LLM configurations: which model answers, where it runs, and what it costs."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import AuditMixin, Base, IdMixin, IdType, JsonType, SoftDeleteMixin

PROVIDERS = ("offline", "openai", "azure", "llamacpp")


class LLMConfig(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "llm_configs"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(20), default="offline")
    model: Mapped[str] = mapped_column(String(200), default="parley-offline")
    deployment_name: Mapped[str] = mapped_column(String(200), default="")
    endpoint: Mapped[str] = mapped_column(Text, default="")
    api_version: Mapped[str] = mapped_column(String(50), default="")
    # Name of an environment variable or secret holding the key; never the key itself.
    api_key_ref: Mapped[str] = mapped_column(Text, default="")
    price_input_per_million: Mapped[Decimal] = mapped_column(Numeric(18, 6), default=Decimal(0))
    price_output_per_million: Mapped[Decimal] = mapped_column(Numeric(18, 6), default=Decimal(0))
    context_window: Mapped[int] = mapped_column(Integer, default=8192)
    max_output_tokens: Mapped[int] = mapped_column(Integer, default=1024)
    temperature: Mapped[float] = mapped_column(default=0.0)
    timeout_seconds: Mapped[float] = mapped_column(default=60.0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    extra: Mapped[dict] = mapped_column(JsonType, default=dict)
