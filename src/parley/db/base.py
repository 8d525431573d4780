"""Declarative base and the column groups most tables share."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, MetaData, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
IdType = BigInteger().with_variant(Integer(), "sqlite")
# The largest id either backend stores (BIGINT); a larger number can only be malformed input.
MAX_ID = 2**63 - 1
# JSON documents: JSONB on PostgreSQL so they can be indexed and filtered.
JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both backends (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)


def _row_timestamp(context) -> datetime:  # type: ignore[no-untyped-def]
    """One instant for a new row's created_on and modified_on, whichever is filled first."""
    params = context.get_current_parameters()
    return params.get("created_on") or params.get("modified_on") or utcnow()


class CreatedMixin:
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_on: Mapped[datetime] = mapped_column(
        UtcDateTime(), default=_row_timestamp, server_default=func.now()
    )


class AuditMixin(CreatedMixin):
    """The audit columns the Ejento surface shows: emails of who created and last edited."""

    modified_by: Mapped[str] = mapped_column(String(320), default="")
    # A new row's modified_on equals its created_on; later edits move it forward.
    modified_on: Mapped[datetime] = mapped_column(
        UtcDateTime(), default=_row_timestamp, onupdate=utcnow, server_default=func.now()
    )


class SoftDeleteMixin:
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", index=True)
