"""Conversation starters: the questions an agent suggests when a chat opens.

An agent's starters are an ordered list (ConversationStarter rows, positions 1..n). The first
three are also the agent's ``sample_q1..3``, the fields Create Agent and Edit Agent set:

- every starter write rewrites ``sample_q1..3`` from the first three starters ("" when there
  are fewer), so Get Agent always shows the same three questions;
- Create/Edit Agent change ``sample_q1..3`` without touching the rows. Since starter writes keep
  both equal, a difference means those fields are newer, so they win: a read shows them in the
  first places, and the next starter write stores them (reusing the rows of the first three,
  a row with the same text first), after which the list is rows only again. A sample question
  not yet stored shows with ``id`` null. Empty sample fields are skipped: the list has no gaps.

Reading needs sight of the agent; writing needs edit rights on it (404 / 403 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.access.principal import Principal
from parley.agents.models import Agent, ConversationStarter
from parley.agents.service import get_agent, get_editable_agent
from parley.errors import ConflictError, InvalidInputError, NotFoundError

MAX_STARTERS = 10
SAMPLE_FIELDS = ("sample_q1", "sample_q2", "sample_q3")
ENTITY = "Conversation starter"
EDIT_ACTION = "edit this agent's conversation starters"


@dataclass(frozen=True)
class Starter:
    """One place of the list: its row, or None for a sample question not stored yet."""

    agent: Agent
    row: ConversationStarter | None
    text: str
    position: int

    @property
    def sample_field(self) -> str | None:
        """Which of the agent's sample_q1..3 shows this starter, if any."""
        if self.position > len(SAMPLE_FIELDS) or (self.row is not None and self.row.is_deleted):
            return None
        return SAMPLE_FIELDS[self.position - 1]


def _rows(session: Session, agent_id: int) -> list[ConversationStarter]:
    stmt = (
        select(ConversationStarter)
        .where(ConversationStarter.agent_id == agent_id, ConversationStarter.is_deleted.is_(False))
        .order_by(ConversationStarter.position, ConversationStarter.id)
    )
    return list(session.scalars(stmt))


def _merged(agent: Agent, rows: list[ConversationStarter]) -> list[tuple[ConversationStarter | None, str]]:
    """The list as it stands: the rows, with the agent's sample questions in the first places
    when they differ from the first three rows."""
    samples = [text for text in (getattr(agent, f) for f in SAMPLE_FIELDS) if text.strip()]
    head = rows[: len(SAMPLE_FIELDS)]
    tail = [(row, row.starter) for row in rows[len(SAMPLE_FIELDS) :]]
    if [row.starter for row in head] == samples:
        return [(row, row.starter) for row in head] + tail
    unused = list(head)
    slots: list[ConversationStarter | None] = []
    for text in samples:
        same = next((row for row in unused if row.starter == text), None)
        if same is not None:
            unused.remove(same)
        slots.append(same)
    # Sample questions without a row of the same text take the remaining rows of the first three.
    slots = [slot if slot is not None else (unused.pop(0) if unused else None) for slot in slots]
    return list(zip(slots, samples, strict=True)) + tail


def starters(session: Session, principal: Principal, agent_id: int) -> list[Starter]:
    agent = get_agent(session, principal, agent_id)
    merged = _merged(agent, _rows(session, agent.id))
    return [Starter(agent, row, text, i) for i, (row, text) in enumerate(merged, start=1)]


def get_starter(session: Session, principal: Principal, agent_id: int, starter_id: int) -> Starter:
    found = next(
        (s for s in starters(session, principal, agent_id) if s.row and s.row.id == starter_id), None
    )
    if found is None:
        raise NotFoundError(ENTITY)
    return found


# -- writes ------------------------------------------------------------------------------------


def _editable(
    session: Session, principal: Principal, agent_id: int
) -> tuple[Agent, list[ConversationStarter]]:
    """The agent, locked (PostgreSQL) so starter writes on it take turns, and its starters with
    any newer sample questions stored."""
    agent = get_editable_agent(session, principal, agent_id, EDIT_ACTION)
    session.refresh(agent, with_for_update=session.get_bind().dialect.name == "postgresql")
    rows = _rows(session, agent.id)
    kept = []
    for row, text in _merged(agent, rows):
        if row is None:
            row = ConversationStarter(agent_id=agent.id, starter=text, created_by=principal.email)
            session.add(row)
        elif row.starter != text:
            row.starter = text
            row.modified_by = principal.email
        kept.append(row)
    for row in rows:
        if row not in kept:
            _soft_delete(principal, row)
    return agent, kept


def _soft_delete(principal: Principal, row: ConversationStarter) -> None:
    row.is_deleted = True
    row.modified_by = principal.email


def _save(session: Session, principal: Principal, agent: Agent, rows: list[ConversationStarter]) -> None:
    """Number the list 1..n and mirror its first three texts into ``sample_q1..3``."""
    for position, row in enumerate(rows, start=1):
        row.position = position  # an unchanged value is not written
    texts = [row.starter for row in rows[: len(SAMPLE_FIELDS)]]
    texts += [""] * (len(SAMPLE_FIELDS) - len(texts))
    if [getattr(agent, f) for f in SAMPLE_FIELDS] != texts:
        for field, text in zip(SAMPLE_FIELDS, texts, strict=True):
            setattr(agent, field, text)
        agent.modified_by = principal.email
    session.flush()


def _refuse_duplicate(
    rows: list[ConversationStarter], text: str, exclude: ConversationStarter | None = None
) -> None:
    if any(row is not exclude and row.starter.lower() == text.lower() for row in rows):
        raise ConflictError("This agent already has this conversation starter.")


def _check_position(position: int, last: int) -> None:
    if not 1 <= position <= last:
        raise InvalidInputError(f"position must be between 1 and {last}.")


def _index(rows: list[ConversationStarter], starter_id: int) -> int:
    index = next((i for i, row in enumerate(rows) if row.id == starter_id), None)
    if index is None:
        raise NotFoundError(ENTITY)
    return index


def create_starter(
    session: Session, principal: Principal, agent_id: int, text: str, position: int | None
) -> Starter:
    """Add a starter at ``position`` (1-based; the end when None)."""
    agent, rows = _editable(session, principal, agent_id)
    if len(rows) >= MAX_STARTERS:
        raise InvalidInputError(f"An agent has at most {MAX_STARTERS} conversation starters.")
    _refuse_duplicate(rows, text)
    position = len(rows) + 1 if position is None else position
    _check_position(position, len(rows) + 1)
    row = ConversationStarter(agent_id=agent.id, starter=text, created_by=principal.email)
    session.add(row)
    rows.insert(position - 1, row)
    _save(session, principal, agent, rows)
    return Starter(agent, row, text, position)


def edit_starter(
    session: Session,
    principal: Principal,
    agent_id: int,
    starter_id: int,
    *,
    text: str | None = None,
    position: int | None = None,
) -> Starter:
    """Change the text and/or move it to ``position``; only what is given changes."""
    agent, rows = _editable(session, principal, agent_id)
    index = _index(rows, starter_id)
    row = rows[index]
    if text is not None and text != row.starter:
        _refuse_duplicate(rows, text, exclude=row)
        row.starter = text
        row.modified_by = principal.email
    if position is not None and position != index + 1:
        _check_position(position, len(rows))
        rows.insert(position - 1, rows.pop(index))
        row.modified_by = principal.email
    _save(session, principal, agent, rows)
    return Starter(agent, row, row.starter, rows.index(row) + 1)


def delete_starter(session: Session, principal: Principal, agent_id: int, starter_id: int) -> Starter:
    """Soft delete; the starters after it move up (into the sample questions too)."""
    agent, rows = _editable(session, principal, agent_id)
    index = _index(rows, starter_id)
    row = rows.pop(index)
    _soft_delete(principal, row)
    _save(session, principal, agent, rows)
    return Starter(agent, row, row.starter, index + 1)
