"""Corpora data layer: create, list, edit, delete, and the permissions that share a corpus.

Plain typed functions taking the session and the caller. Reads are scoped with
``corpus_visible`` (another organisation's corpus answers 404), edits with ``corpus_editable``.
The owner and organisation admins alone delete a corpus and manage who it is shared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from parley.access.capabilities import require_capability
from parley.access.policy import corpus_editable, corpus_visible, load_allowed, load_visible, require
from parley.access.principal import Principal
from parley.accounts import service as accounts
from parley.accounts import teams, users
from parley.accounts.models import Team, TeamMember, User
from parley.corpora.models import AgentCorpus, Corpus, CorpusPermission
from parley.db.rows import name_taken, soft_delete
from parley.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError

# A grant row with the user or team it names (exactly one of them is set).
PermissionGrant = tuple[CorpusPermission, User | None, Team | None]


def get_corpus(session: Session, principal: Principal, corpus_id: int) -> Corpus:
    return load_visible(session, Corpus, corpus_id, corpus_visible(principal), "Corpus")


def _editable_corpus(session: Session, principal: Principal, corpus_id: int, action: str) -> Corpus:
    """404 when the caller cannot see the corpus, 403 when they see it but may not change it."""
    visible, editable = corpus_visible(principal), corpus_editable(principal)
    return load_allowed(session, Corpus, corpus_id, visible, editable, "Corpus", action)


def _require_manager(corpus: Corpus, principal: Principal, action: str) -> None:
    if corpus.owner_id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError(f"Only the owner of the corpus or an administrator can {action}.")


def _clean_tags(tags: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _check_name_free(session: Session, owner_id: int, name: str, corpus_id: int | None = None) -> None:
    """Names are unique (case-insensitively) among one owner's live corpora."""
    if name_taken(session, Corpus.name, name, Corpus.owner_id == owner_id, exclude_id=corpus_id):
        raise ConflictError("A corpus with this name already exists.")


def create_corpus(
    session: Session,
    principal: Principal,
    *,
    name: str,
    description: str,
    corpus_type: str,
    is_public: bool,
    tags: Sequence[str],
) -> Corpus:
    require_capability(session, principal, "create_corpus")
    _check_name_free(session, principal.user_id, name)
    corpus = Corpus(
        org_id=principal.org_id,
        owner_id=principal.user_id,
        name=name,
        description=description,
        corpus_type=corpus_type,
        is_public=is_public,
        tags=_clean_tags(tags),
        settings={},
        created_by=principal.email,
    )
    session.add(corpus)
    session.flush()
    return corpus


def corpora_query(
    principal: Principal, query: str | None = None, corpus_type: str | None = None
) -> Select[tuple[Corpus]]:
    """Get All Corpus: the corpora the caller may see, newest first."""
    stmt = select(Corpus).where(corpus_visible(principal))
    if query and query.strip():
        needle = query.strip().lower()
        stmt = stmt.where(
            or_(
                func.lower(Corpus.name).contains(needle, autoescape=True),
                func.lower(Corpus.description).contains(needle, autoescape=True),
            )
        )
    if corpus_type is not None:
        stmt = stmt.where(Corpus.corpus_type == corpus_type)
    return stmt.order_by(Corpus.id.desc())


def edit_corpus(session: Session, principal: Principal, corpus_id: int, changes: dict) -> Corpus:
    """Writers edit name, description and tags; making a corpus public (or private) shares it
    with the whole organisation, so only the owner or an admin may change ``is_public``."""
    corpus = _editable_corpus(session, principal, corpus_id, "edit this corpus")
    if "is_public" in changes:
        _require_manager(corpus, principal, "change whether it is public")
    if "name" in changes:
        _check_name_free(session, corpus.owner_id, changes["name"], corpus.id)
    if "tags" in changes:
        changes = {**changes, "tags": _clean_tags(changes["tags"])}
    for field, value in changes.items():
        setattr(corpus, field, value)
    corpus.modified_by = principal.email
    session.flush()
    return corpus


def delete_corpus(session: Session, principal: Principal, corpus_id: int) -> Corpus:
    """Soft delete; the corpus's agent connections are soft-deleted with it, so no agent keeps
    answering from a corpus that no longer exists."""
    corpus = get_corpus(session, principal, corpus_id)
    _require_manager(corpus, principal, "delete it")
    soft_delete(session, principal, corpus)
    session.execute(
        update(AgentCorpus)
        .where(AgentCorpus.corpus_id == corpus.id, AgentCorpus.is_deleted.is_(False))
        .values(is_deleted=True, modified_by=principal.email)
    )
    return corpus


# -- permissions -----------------------------------------------------------------------------


def _grants(session: Session, corpus_id: int, *where: object) -> list[PermissionGrant]:
    rows = session.execute(
        select(CorpusPermission, User, Team)
        .outerjoin(User, User.id == CorpusPermission.user_id)
        .outerjoin(Team, Team.id == CorpusPermission.team_id)
        .where(CorpusPermission.corpus_id == corpus_id, *where)  # type: ignore[arg-type]
        .order_by(CorpusPermission.id)
    ).all()
    return [(grant, user, team) for grant, user, team in rows]


def corpus_permissions(session: Session, principal: Principal, corpus_id: int) -> list[PermissionGrant]:
    corpus = _editable_corpus(session, principal, corpus_id, "view this corpus's permissions")
    return _grants(session, corpus.id)


@dataclass(frozen=True)
class EffectivePermission:
    corpus: Corpus
    user: User
    permission: str  # owner | write | read | none
    reason: str


def _grant_reason(grant: PermissionGrant) -> str:
    row, _, team = grant
    if team is not None:
        return f"Granted {row.permission} through the team '{team.team_name}'."
    return f"Granted {row.permission} to the user."


def effective_permission(
    session: Session, principal: Principal, corpus_id: int, user_id: int
) -> EffectivePermission:
    """What ``user_id`` may do with the corpus, decided by the same policy that guards every
    request (so the answer cannot drift from enforcement), with the reason why.

    The user themselves and the corpus's editors may ask.
    """
    corpus = get_corpus(session, principal, corpus_id)
    user = users.get_user(session, principal, user_id)
    if user.id != principal.user_id:
        require(session, Corpus, corpus, corpus_editable(principal), "view this corpus's permissions")
    subject = accounts.load_principal(session, user)

    def allowed(clause: object) -> bool:
        return session.scalar(select(Corpus.id).where(Corpus.id == corpus.id, clause)) is not None  # type: ignore[arg-type]

    if corpus.owner_id == user.id:
        return EffectivePermission(corpus, user, "owner", "Owner of the corpus.")
    if subject.is_admin:
        return EffectivePermission(
            corpus, user, "owner", "Organization administrators manage every corpus of the organization."
        )
    member_of = select(TeamMember.team_id).where(TeamMember.user_id == user.id)
    grants = _grants(
        session, corpus.id, or_(CorpusPermission.user_id == user.id, CorpusPermission.team_id.in_(member_of))
    )
    # The strongest grant explains the level; a direct grant before a team's.
    grants.sort(key=lambda g: (g[0].permission != "write", g[0].user_id is None))
    if allowed(corpus_editable(subject)):
        return EffectivePermission(corpus, user, "write", _grant_reason(grants[0]))
    if allowed(corpus_visible(subject)):
        reason = _grant_reason(grants[0]) if grants else "The corpus is public."
        return EffectivePermission(corpus, user, "read", reason)
    return EffectivePermission(corpus, user, "none", "The corpus is not shared with this user.")


def grant_corpus_permission(
    session: Session,
    principal: Principal,
    corpus_id: int,
    *,
    permission: str,
    user_id: int | None = None,
    team_id: int | None = None,
) -> PermissionGrant:
    """Share a corpus with one user or one team of the organisation (a team the caller can see)."""
    corpus = get_corpus(session, principal, corpus_id)
    if (user_id is None) == (team_id is None):
        raise InvalidInputError("Provide exactly one of user_id or team_id.")
    _require_manager(corpus, principal, "manage its permissions")
    user = team = None
    if user_id is not None:
        user = users.get_user(session, principal, user_id)
        if user.id == corpus.owner_id:
            raise InvalidInputError("The owner already has full access to this corpus.")
        same_subject = CorpusPermission.user_id == user.id
    else:
        team = teams.get_team(session, principal, team_id)  # type: ignore[arg-type]
        same_subject = CorpusPermission.team_id == team.id
    exists = session.scalar(
        select(CorpusPermission.id).where(CorpusPermission.corpus_id == corpus.id, same_subject)
    )
    if exists is not None:
        who = "user" if user is not None else "team"
        raise ConflictError(
            f"This {who} already has a permission on this corpus; revoke it first to change it."
        )
    grant = CorpusPermission(
        corpus_id=corpus.id,
        user_id=user.id if user else None,
        team_id=team.id if team else None,
        permission=permission,
        created_by=principal.email,
    )
    session.add(grant)
    session.flush()
    return grant, user, team


def revoke_corpus_permission(
    session: Session, principal: Principal, corpus_id: int, permission_id: int
) -> PermissionGrant:
    corpus = get_corpus(session, principal, corpus_id)
    _require_manager(corpus, principal, "manage its permissions")
    found = _grants(session, corpus.id, CorpusPermission.id == permission_id)
    if not found:
        raise NotFoundError("Corpus permission")
    session.delete(found[0][0])
    session.flush()
    return found[0]
