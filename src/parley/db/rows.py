"""Row operations the data layers share: case-insensitive name uniqueness, edits and soft
deletes that keep ``modified_by``, refusing to delete a parent that still holds live rows, and
a user's marks on rows (recent teams, projects and agents; starred agents).

Columns are passed as mapped attributes (``Project.project_name``, ``RecentTeam.team_id``), so
each helper knows its table from the column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from parley.db.base import utcnow
from parley.errors import InvalidInputError

if TYPE_CHECKING:
    from parley.access.principal import Principal


def upsert(session: Session, model: type) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``model``'s table in the dialect that has ``on_conflict_do_update`` (the
    same ``ON CONFLICT ... DO UPDATE`` on both backends): one atomic statement, which several
    API processes may run at once."""
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    return dialect.insert(model)


def name_taken(
    session: Session,
    name: InstrumentedAttribute[str],
    value: str,
    *scope: ColumnElement[bool],
    exclude_id: int | None = None,
) -> bool:
    """Whether a live row within ``scope`` (other than ``exclude_id``) already has this name,
    compared case-insensitively."""
    model = name.class_
    stmt = select(model.id).where(*scope, model.is_deleted.is_(False), func.lower(name) == value.lower())
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    return session.scalar(stmt.limit(1)) is not None


def refuse_to_orphan(
    session: Session, parent: str, parent_id: int, child_fk: InstrumentedAttribute[int], children: str
) -> None:
    """Refuse to delete a parent (``"team"``) that still holds live children (``"project"``)."""
    child = child_fk.class_
    live = session.scalar(
        select(func.count(child.id)).where(child_fk == parent_id, child.is_deleted.is_(False))
    )
    if live:
        raise InvalidInputError(
            f"The {parent} still has {live} {children}(s); delete or move them before deleting the {parent}."
        )


def apply_changes(session: Session, principal: Principal, row: Any, changes: Mapping[str, Any]) -> None:
    """Set the given fields; an edit that changes nothing leaves ``modified_by`` alone."""
    for field, value in changes.items():
        setattr(row, field, value)
    if changes:
        row.modified_by = principal.email
    session.flush()


def soft_delete(session: Session, principal: Principal, row: Any) -> None:
    row.is_deleted = True
    row.modified_by = principal.email
    session.flush()


# -- marks: one row per user and target (recent and starred) -----------------------------------


def find_mark(
    session: Session, principal: Principal, target_fk: InstrumentedAttribute[int], target_id: int
) -> Any:
    """The caller's mark on a target, or None."""
    model = target_fk.class_
    return session.scalars(
        select(model).where(model.user_id == principal.user_id, target_fk == target_id)
    ).first()


def add_mark(
    session: Session, principal: Principal, target_fk: InstrumentedAttribute[int], target_id: int
) -> Any:
    """The caller's mark on a target, added when missing (marking again adds nothing)."""
    row = find_mark(session, principal, target_fk, target_id)
    if row is None:
        row = target_fk.class_(
            user_id=principal.user_id, created_by=principal.email, **{target_fk.key: target_id}
        )
        session.add(row)
    return row


def record_use(
    session: Session, principal: Principal, target_fk: InstrumentedAttribute[int], target_id: int
) -> Any:
    """Record a use of the target; using it again only moves it to the front."""
    row = add_mark(session, principal, target_fk, target_id)
    row.last_used_on = utcnow()
    session.flush()
    return row


def marks_with_targets(
    session: Session,
    principal: Principal,
    target_fk: InstrumentedAttribute[int],
    target: type,
    visible: ColumnElement[bool],
) -> list[tuple[Any, Any]]:
    """The caller's marks with their targets, most recently used (or marked) first; only
    targets they can still see are listed (deleted or hidden ones drop out)."""
    model = target_fk.class_
    order = (
        (model.last_used_on.desc(), model.id.desc()) if hasattr(model, "last_used_on") else (model.id.desc(),)
    )
    rows = session.execute(
        select(model, target)
        .join(target, target.id == target_fk)  # type: ignore[attr-defined]
        .where(model.user_id == principal.user_id, visible)
        .order_by(*order)
    ).all()
    return [(row, found) for row, found in rows]
