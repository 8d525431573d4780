"""The rate-limit windows of the usage-logs API, one row per bot and window kind."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import Base, IdType


class KoreRateWindow(Base):
    """The calls counted in a bot's current minute or hour: a call in a later window starts
    the count over, so the table keeps two small rows per bot that was ever called."""

    __tablename__ = "kore_rate_windows"

    agent_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    window: Mapped[str] = mapped_column(String(8), primary_key=True)  # "minute" or "hour"
    window_start: Mapped[int] = mapped_column(BigInteger)  # Unix time, a multiple of its length
    calls: Mapped[int] = mapped_column(Integer)
