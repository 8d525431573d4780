"""What people attach to an agent besides its configuration: reviews, ratings, votes and
comments; its email alias, access level and type; the users it is shared with; its tags.

Plain typed functions taking a session and the caller, like ``agents.service``. Everything
hangs off an agent, so every read starts from ``agent_visible`` (another organisation's agent,
or one the caller may not see, answers "not found", and so does anything attached to it);
changes to the agent itself need ``agent_editable`` (403 when visible but not editable).
Reviews and comments are changed by their author only; org admins may also delete them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from parley.access.capabilities import require_capability
from parley.access.policy import (
    agent_editable,
    agent_visible,
    load_all_visible,
    load_visible,
    project_visible,
    require,
    team_visible,
    user_visible,
)
from parley.access.principal import Principal
from parley.accounts import service as accounts
from parley.accounts.models import Team, User
from parley.agents.models import (
    Agent,
    AgentComment,
    AgentRating,
    AgentReview,
    AgentTag,
    AgentType,
    AgentUser,
    AgentVote,
)
from parley.agents.service import (
    AgentFilter,
    agents_query,
    email_alias,
    get_agent,
    get_editable_agent,
    resolve_agent_type,
)
from parley.db.rows import apply_changes, soft_delete
from parley.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from parley.flags import service as flags
from parley.notifications.service import notify
from parley.projects.models import Project

MAX_TAGS = 50  # per agent, as for documents
SharePermission = Literal["view", "edit"]
Vote = Literal["up", "down", "clear"]
# A share row with the user it names.
AgentShare = tuple[AgentUser, User]


def users_by_id(session: Session, user_ids: Iterable[int]) -> dict[int, User]:
    """The users behind ``user_id`` columns, deleted ones included (their past reviews stay)."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    return {user.id: user for user in session.scalars(select(User).where(User.id.in_(wanted)))}


def _lock_agent(session: Session, agent: Agent) -> None:
    """Serialise check-then-insert on one agent (PostgreSQL; SQLite writers are serial already)."""
    session.execute(select(Agent.id).where(Agent.id == agent.id).with_for_update())


# -- reviews ------------------------------------------------------------------------------------


def _live_review(session: Session, principal: Principal, review_id: int) -> AgentReview:
    """A review of an agent the caller can see; any other id is "not found"."""
    stmt = (
        select(AgentReview)
        .join(Agent, Agent.id == AgentReview.agent_id)
        .where(AgentReview.id == review_id, AgentReview.is_deleted.is_(False), agent_visible(principal))
    )
    review = session.scalars(stmt).first()
    if review is None:
        raise NotFoundError("Review")
    return review


def create_review(
    session: Session, principal: Principal, agent_id: int, *, review: str, rating: int | None
) -> AgentReview:
    """One live review per user and agent: a second one is a conflict (edit the first)."""
    agent = get_agent(session, principal, agent_id)
    _lock_agent(session, agent)
    mine = select(AgentReview.id).where(
        AgentReview.agent_id == agent.id,
        AgentReview.user_id == principal.user_id,
        AgentReview.is_deleted.is_(False),
    )
    if session.scalar(mine.limit(1)) is not None:
        raise ConflictError("You have already reviewed this agent; edit or delete that review instead.")
    row = AgentReview(
        agent_id=agent.id, user_id=principal.user_id, review=review, rating=rating, created_by=principal.email
    )
    session.add(row)
    session.flush()
    return row


def reviews_query(principal: Principal, user_ids: Sequence[int] = ()) -> Select[tuple[AgentReview]]:
    """Live reviews of the agents the caller can see, newest first."""
    stmt = (
        select(AgentReview)
        .join(Agent, Agent.id == AgentReview.agent_id)
        .where(AgentReview.is_deleted.is_(False), agent_visible(principal))
    )
    if user_ids:
        stmt = stmt.where(AgentReview.user_id.in_(user_ids))
    return stmt.order_by(AgentReview.created_on.desc(), AgentReview.id.desc())


def agent_reviews(session: Session, principal: Principal, agent_id: int) -> list[AgentReview]:
    agent = get_agent(session, principal, agent_id)
    return list(session.scalars(reviews_query(principal).where(AgentReview.agent_id == agent.id)))


def edit_review(
    session: Session, principal: Principal, review_id: int, changes: Mapping[str, object]
) -> AgentReview:
    review = _live_review(session, principal, review_id)
    if review.user_id != principal.user_id:
        raise PermissionDeniedError("Only the author can edit a review.")
    apply_changes(session, principal, review, changes)
    return review


def delete_review(session: Session, principal: Principal, review_id: int) -> AgentReview:
    review = _live_review(session, principal, review_id)
    if review.user_id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError("Only the author or an organization administrator can delete a review.")
    soft_delete(session, principal, review)
    return review


# -- ratings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingSummary:
    agent: Agent
    average: float | None  # of every user's rating, two decimals
    count: int
    user_rating: int | None  # the caller's own


def rated_agents_query(principal: Principal) -> Select[tuple[Agent]]:
    """The agents the caller can see that have at least one rating, by id."""
    rated = select(AgentRating.agent_id)
    return select(Agent).where(agent_visible(principal), Agent.id.in_(rated)).order_by(Agent.id)


def rating_summaries(session: Session, principal: Principal, agents: Sequence[Agent]) -> list[RatingSummary]:
    ids = [agent.id for agent in agents]
    if not ids:
        return []
    stats = {
        agent_id: (average, count)
        for agent_id, average, count in session.execute(
            select(AgentRating.agent_id, func.avg(AgentRating.rating), func.count(AgentRating.id))
            .where(AgentRating.agent_id.in_(ids))
            .group_by(AgentRating.agent_id)
        )
    }
    own = dict(
        session.execute(
            select(AgentRating.agent_id, AgentRating.rating).where(
                AgentRating.agent_id.in_(ids), AgentRating.user_id == principal.user_id
            )
        ).all()
    )
    out = []
    for agent in agents:
        average, count = stats.get(agent.id, (None, 0))
        # avg() is a Decimal on PostgreSQL and a float on SQLite.
        rounded = None if average is None else round(float(average), 2)
        out.append(RatingSummary(agent, rounded, count, own.get(agent.id)))
    return out


def agent_rating(session: Session, principal: Principal, agent_id: int) -> RatingSummary:
    return rating_summaries(session, principal, [get_agent(session, principal, agent_id)])[0]


def rate_agent(session: Session, principal: Principal, agent_id: int, rating: int) -> RatingSummary:
    """Set the caller's rating of the agent; rating again replaces it."""
    agent = get_agent(session, principal, agent_id)
    row = session.scalars(
        select(AgentRating).where(AgentRating.agent_id == agent.id, AgentRating.user_id == principal.user_id)
    ).first()
    if row is None:
        session.add(
            AgentRating(
                agent_id=agent.id, user_id=principal.user_id, rating=rating, created_by=principal.email
            )
        )
    elif row.rating != rating:
        apply_changes(session, principal, row, {"rating": rating})
    session.flush()
    return rating_summaries(session, principal, [agent])[0]


# -- votes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoteCounts:
    like_count: int
    dislike_count: int
    user_vote: str | None  # the caller's: "up", "down" or None


def _vote_counts(session: Session, principal: Principal, agent: Agent) -> VoteCounts:
    counts = dict(
        session.execute(
            select(AgentVote.vote, func.count(AgentVote.id))
            .where(AgentVote.agent_id == agent.id)
            .group_by(AgentVote.vote)
        ).all()
    )
    own = session.scalar(
        select(AgentVote.vote).where(AgentVote.agent_id == agent.id, AgentVote.user_id == principal.user_id)
    )
    return VoteCounts(counts.get("up", 0), counts.get("down", 0), own)


def vote_info(session: Session, principal: Principal, agent_id: int) -> VoteCounts:
    return _vote_counts(session, principal, get_agent(session, principal, agent_id))


def cast_vote(session: Session, principal: Principal, agent_id: int, vote: Vote) -> VoteCounts:
    """One vote per user and agent: voting again replaces it, ``clear`` removes it."""
    agent = get_agent(session, principal, agent_id)
    row = session.scalars(
        select(AgentVote).where(AgentVote.agent_id == agent.id, AgentVote.user_id == principal.user_id)
    ).first()
    if vote == "clear":
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(
            AgentVote(agent_id=agent.id, user_id=principal.user_id, vote=vote, created_by=principal.email)
        )
    elif row.vote != vote:
        apply_changes(session, principal, row, {"vote": vote})
    session.flush()
    return _vote_counts(session, principal, agent)


# -- comments -----------------------------------------------------------------------------------


def _live_comment(session: Session, principal: Principal, agent_id: int, comment_id: int) -> AgentComment:
    agent = get_agent(session, principal, agent_id)
    comment = session.scalars(
        select(AgentComment).where(
            AgentComment.id == comment_id,
            AgentComment.agent_id == agent.id,
            AgentComment.is_deleted.is_(False),
        )
    ).first()
    if comment is None:
        raise NotFoundError("Comment")
    return comment


def create_comment(session: Session, principal: Principal, agent_id: int, comment: str) -> AgentComment:
    agent = get_agent(session, principal, agent_id)
    row = AgentComment(
        agent_id=agent.id, user_id=principal.user_id, comment=comment, created_by=principal.email
    )
    session.add(row)
    session.flush()
    return row


def agent_comments(session: Session, principal: Principal, agent_id: int) -> list[AgentComment]:
    """Live comments, oldest first (a conversation reads top down)."""
    agent = get_agent(session, principal, agent_id)
    return list(
        session.scalars(
            select(AgentComment)
            .where(AgentComment.agent_id == agent.id, AgentComment.is_deleted.is_(False))
            .order_by(AgentComment.created_on, AgentComment.id)
        )
    )


def edit_comment(
    session: Session, principal: Principal, agent_id: int, comment_id: int, comment: str
) -> AgentComment:
    row = _live_comment(session, principal, agent_id, comment_id)
    if row.user_id != principal.user_id:
        raise PermissionDeniedError("Only the author can edit a comment.")
    apply_changes(session, principal, row, {"comment": comment})
    return row


def delete_comment(session: Session, principal: Principal, agent_id: int, comment_id: int) -> AgentComment:
    row = _live_comment(session, principal, agent_id, comment_id)
    if row.user_id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError("Only the author or an organization administrator can delete a comment.")
    soft_delete(session, principal, row)
    return row


# -- alias, access, type --------------------------------------------------------------------------


def aliased_agents_query(principal: Principal) -> Select[tuple[Agent]]:
    return select(Agent).where(agent_visible(principal), Agent.alias.is_not(None)).order_by(Agent.id)


def _set_alias(session: Session, principal: Principal, agent: Agent, alias: str) -> Agent:
    # Aliases are email addresses, unique across the whole installation (deleted agents keep
    # theirs, as the column's unique constraint does) and compared case-insensitively.
    taken = select(Agent.id).where(func.lower(Agent.alias) == alias.lower(), Agent.id != agent.id)
    if session.scalar(taken.limit(1)) is not None:
        raise ConflictError("This alias is already in use.")
    apply_changes(session, principal, agent, {"alias": alias})
    return agent


def create_alias(session: Session, principal: Principal, agent_id: int, alias: str | None) -> Agent:
    """Give the agent an alias: the one asked for, or the generated ``<Name>_<id>@...``."""
    agent = get_editable_agent(session, principal, agent_id)
    flags.require_enabled(session, agent.org_id, "agent_alias")
    if agent.alias is not None:
        raise ConflictError("This agent already has an alias; update it instead.")
    return _set_alias(session, principal, agent, alias or email_alias(agent))


def update_alias(session: Session, principal: Principal, agent_id: int, alias: str) -> Agent:
    agent = get_editable_agent(session, principal, agent_id)
    flags.require_enabled(session, agent.org_id, "agent_alias")
    return _set_alias(session, principal, agent, alias)


def delete_alias(session: Session, principal: Principal, agent_id: int) -> Agent:
    agent = get_editable_agent(session, principal, agent_id)
    flags.require_enabled(session, agent.org_id, "agent_alias")
    if agent.alias is None:
        raise NotFoundError("Agent alias")
    apply_changes(session, principal, agent, {"alias": None})
    return agent


def set_access(session: Session, principal: Principal, agent_id: int, access: str) -> Agent:
    agent = get_editable_agent(session, principal, agent_id)
    apply_changes(session, principal, agent, {"access": access})
    return agent


def agent_types(session: Session) -> list[AgentType]:
    """The installation's agent types (reference data shared by every organisation)."""
    return list(session.scalars(select(AgentType).order_by(AgentType.id)))


def get_agent_type(session: Session, type_id: int) -> AgentType:
    found = session.get(AgentType, type_id)
    if found is None:
        raise NotFoundError("Agent type")
    return found


def set_agent_type(session: Session, principal: Principal, agent_id: int, value: int | str) -> Agent:
    agent = get_editable_agent(session, principal, agent_id)
    apply_changes(session, principal, agent, {"agent_type_id": resolve_agent_type(session, value).id})
    return agent


# -- users an agent is shared with ----------------------------------------------------------------


def all_visible_agents(session: Session, principal: Principal) -> Sequence[Agent]:
    """Every agent the caller can see, newest first (Get All Agents with Users)."""
    return session.scalars(agents_query(session, principal, AgentFilter())).all()


def _shares(session: Session, agent_id: int) -> list[AgentShare]:
    rows = session.execute(
        select(AgentUser, User)
        .join(User, User.id == AgentUser.user_id)
        .where(AgentUser.agent_id == agent_id, User.is_deleted.is_(False))
        .order_by(AgentUser.id)
    ).all()
    return [(share, user) for share, user in rows]


def agent_users(session: Session, principal: Principal, agent_id: int) -> list[AgentShare]:
    """Who the agent is shared with; like a corpus's permissions, for its editors only."""
    agent = get_editable_agent(session, principal, agent_id, "view this agent's users")
    return _shares(session, agent.id)


def add_agent_users(
    session: Session, principal: Principal, agent_id: int, permissions: Mapping[int, SharePermission]
) -> list[AgentShare]:
    """Share the agent (user id -> "view" | "edit"); sharing again changes the permission.

    Each user who gains access, or whose permission changes, is notified ("agent_shared").
    """
    agent = get_editable_agent(session, principal, agent_id, "share this agent")
    flags.require_enabled(session, agent.org_id, "share_agent")
    require_capability(session, principal, "share_agent")
    users = load_all_visible(session, User, permissions, user_visible(principal), "User")
    if any(user.id == agent.user_id for user in users):
        raise InvalidInputError("The agent's owner already has full access to it.")
    existing = {
        share.user_id: share
        for share in session.scalars(
            select(AgentUser).where(AgentUser.agent_id == agent.id, AgentUser.user_id.in_(list(permissions)))
        )
    }
    for user in users:
        permission = permissions[user.id]
        share = existing.get(user.id)
        if share is None:
            session.add(
                AgentUser(
                    agent_id=agent.id, user_id=user.id, permission=permission, created_by=principal.email
                )
            )
        elif share.permission != permission:
            apply_changes(session, principal, share, {"permission": permission})
        else:
            continue
        if user.id != principal.user_id:
            notify(
                session,
                org_id=agent.org_id,
                user_id=user.id,
                kind="agent_shared",
                title=f"Agent shared with you: {agent.agent_name}",
                message=f'{principal.email} shared the agent "{agent.agent_name}" with you ({permission}).',
                target={"type": "agent", "id": agent.id, "permission": permission},
                created_by=principal.email,
            )
    session.flush()
    return _shares(session, agent.id)


def remove_agent_user(session: Session, principal: Principal, agent_id: int, user_id: int) -> AgentShare:
    """Stop sharing the agent with a user: its editors may, and so may the user themselves."""
    agent = get_agent(session, principal, agent_id)
    if user_id != principal.user_id:
        require(session, Agent, agent, agent_editable(principal), "remove users from this agent")
    found = next((pair for pair in _shares(session, agent.id) if pair[1].id == user_id), None)
    if found is None:
        raise NotFoundError("Agent user")
    session.delete(found[0])
    session.flush()
    return found


@dataclass(frozen=True)
class AgentPermission:
    agent: Agent
    user: User
    permission: str  # owner | edit | view | none
    reason: str


def effective_permission(
    session: Session, principal: Principal, agent_id: int, user_id: int
) -> AgentPermission:
    """What ``user_id`` may do with the agent, decided by the same policy clauses that guard
    every request (so the answer cannot drift from enforcement), with the reason why.

    The user themselves and the agent's editors may ask.
    """
    agent = get_agent(session, principal, agent_id)
    user = load_visible(session, User, user_id, user_visible(principal), "User")
    if user.id != principal.user_id:
        require(session, Agent, agent, agent_editable(principal), "view this agent's users")
    subject = accounts.load_principal(session, user)
    share = session.scalar(
        select(AgentUser.permission).where(AgentUser.agent_id == agent.id, AgentUser.user_id == user.id)
    )

    def allowed(clause: object) -> bool:
        return session.scalar(select(Agent.id).where(Agent.id == agent.id, clause)) is not None  # type: ignore[arg-type]

    if agent.user_id == user.id:
        return AgentPermission(agent, user, "owner", "Owner of the agent.")
    if allowed(agent_editable(subject)):
        if subject.is_admin:
            reason = "Organization administrators manage every agent of the organization."
        elif share == "edit":
            reason = "Shared with the user for editing."
        else:
            reason = "Owner or admin of the team of the agent's project."
        return AgentPermission(agent, user, "edit", reason)
    if allowed(agent_visible(subject)):
        if share is not None:
            reason = "Shared with the user for viewing."
        elif agent.access == "Public":
            reason = "The agent is public."
        else:
            reason = "Member of the team of the agent's project."
        return AgentPermission(agent, user, "view", reason)
    return AgentPermission(agent, user, "none", "The agent is not shared with this user.")


# -- tags -----------------------------------------------------------------------------------------


def _agent_tags(session: Session, agent_id: int) -> list[str]:
    return list(
        session.scalars(select(AgentTag.tag).where(AgentTag.agent_id == agent_id).order_by(AgentTag.id))
    )


def annotate_agent(
    session: Session, principal: Principal, agent_id: int, *, add: Sequence[str], remove: Sequence[str]
) -> tuple[Agent, list[str]]:
    """Remove, then add tags (existing order kept, repeats ignored); tags are case-sensitive."""
    agent = get_editable_agent(session, principal, agent_id, "tag this agent")
    if not add and not remove:
        raise InvalidInputError("Send tags to add or to remove.")
    both = sorted(set(add) & set(remove))
    if both:
        raise InvalidInputError(f"The tag {both[0]!r} cannot be both added and removed.")
    current = session.scalars(select(AgentTag).where(AgentTag.agent_id == agent.id)).all()
    kept = [row.tag for row in current if row.tag not in remove]
    new = [tag for tag in dict.fromkeys(add) if tag not in kept]
    if len(kept) + len(new) > MAX_TAGS:
        raise InvalidInputError(f"An agent can have at most {MAX_TAGS} tags.")
    for row in current:
        if row.tag in remove:
            session.delete(row)
    session.add_all(AgentTag(agent_id=agent.id, tag=tag, created_by=principal.email) for tag in new)
    if new or len(kept) != len(current):
        agent.modified_by = principal.email
    session.flush()
    return agent, _agent_tags(session, agent.id)


def _tagged_agents(
    session: Session, principal: Principal, project_id: int | None, team_id: int | None
) -> Select[tuple[int, str]]:
    """(agent id, tag) of the agents the caller can see, in a project, a team or the whole
    organisation; a project or team the caller cannot see is "not found"."""
    stmt = select(AgentTag.agent_id, AgentTag.tag).join(Agent, Agent.id == AgentTag.agent_id)
    stmt = stmt.where(agent_visible(principal))
    if project_id is not None:
        project = load_visible(session, Project, project_id, project_visible(principal), "Project")
        stmt = stmt.where(Agent.project_id == project.id)
    if team_id is not None:
        team = load_visible(session, Team, team_id, team_visible(principal), "Team")
        stmt = stmt.where(Agent.project_id.in_(select(Project.id).where(Project.team_id == team.id)))
    return stmt


def _tag_order(tag: str) -> tuple[str, str]:
    # Sorted here, not in SQL: the two backends collate letter case differently.
    return tag.lower(), tag


def distinct_tags(
    session: Session, principal: Principal, *, project_id: int | None = None, team_id: int | None = None
) -> list[str]:
    pairs = session.execute(_tagged_agents(session, principal, project_id, team_id)).all()
    return sorted({tag for _, tag in pairs}, key=_tag_order)


def tags_by_agent(
    session: Session, principal: Principal, *, project_id: int | None = None, team_id: int | None = None
) -> list[tuple[Agent, list[str]]]:
    """Each visible agent that has tags, by id, with its tags in the order they were added."""
    grouped: dict[int, list[str]] = defaultdict(list)
    stmt = _tagged_agents(session, principal, project_id, team_id).order_by(AgentTag.id)
    for agent_id, tag in session.execute(stmt):
        grouped[agent_id].append(tag)
    if not grouped:
        return []
    agents = session.scalars(select(Agent).where(Agent.id.in_(grouped)).order_by(Agent.id))
    return [(agent, grouped[agent.id]) for agent in agents]
