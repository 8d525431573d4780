"""Contextual AI's datastores, documents, agents and messages as views of Parley's domain.

A datastore is a corpus, a document a document, an agent an agent (its datastores are its
enabled agent↔corpus links), a conversation a chat thread and a message an agent response.
Everything is read and changed through the domain services, so the access policy, the
ingestion path and the chunk-metadata sync apply exactly as they do for Ejento. What Parley
has no column for is kept in JSON columns that exist for it:

* ``Corpus.settings["configuration"]``: the datastore's UnstructuredDatastoreConfig;
* ``Document.doc_metadata``: the document's ``custom_metadata`` (so filters see it), plus the
  reserved key :data:`RESERVED_KEY` holding ``custom_metadata_config`` and the per-document
  ingestion ``configuration``; ``custom_metadata["tags"]`` is the document's tags;
* ``Agent.settings``: ``agent_configs`` (Contextual's shape; per-datastore filter keys are
  corpus ids), the extra prompts, ``suggested_queries`` and ``template_name``;
* ``Organization.settings["contextual_ai"]``: the team and project that hold agents created
  through ``/v1`` (Contextual agents have no project; Parley's need one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from parley.access.policy import agent_visible, corpus_visible, load_visible
from parley.access.principal import Principal
from parley.accounts.models import Organization, Team
from parley.agents import service as agents_service
from parley.agents.models import Agent
from parley.answers.extractive import EXTRACTIVE_MODEL_NAME
from parley.corpora import documents, links
from parley.corpora import service as corpora
from parley.corpora.models import AgentCorpus, Chunk, Corpus, Document
from parley.db.rows import soft_delete
from parley.errors import ConflictError, InvalidInputError, NotFoundError
from parley.ingest.parsers import ParseError, detect_format
from parley.jobs.models import Job
from parley.llm import service as llm_configs
from parley.projects.models import Project, ProjectMember
from parley.responses import service as responses
from parley.responses.models import AgentResponse, ResponseFeedback
from parley.search.filters import Filter, parse_filter, per_corpus
from parley.surfaces.contextual import ids
from parley.surfaces.contextual.ids import Kind
from parley.surfaces.contextual.schemas import AgentBody, AgentUpdateBody, DocumentMetadataBody
from parley.threads import service as threads
from parley.threads.models import ChatThread

QUERY_SOURCE = "contextual"
RESERVED_KEY = "__contextual"
TAGS_KEY = "tags"
DEFAULT_TEMPLATE = "default"
ORG_SETTINGS_KEY = "contextual_ai"
TEAM_NAME = "Contextual AI API"
PROJECT_NAME = "Contextual AI agents"
# Agent.settings keys for the Contextual agent fields Parley has no column for.
AGENT_SETTING_FIELDS = (
    "multiturn_system_prompt",
    "no_retrieval_system_prompt",
    "filter_prompt",
    "suggested_queries",
    "template_name",
)
MAX_SUGGESTED_QUERY_CHARS = 1000
MAX_METADATA_KEY = 100
PROCESSING = ("parsing", "chunking", "embedding", "indexing")

RowT = TypeVar("RowT")


@dataclass(frozen=True)
class FileUpload:
    name: str  # already cleaned of directories and control characters
    declared_type: str | None
    data: bytes


@dataclass(frozen=True)
class Page(Generic[RowT]):
    rows: list[RowT]
    total: int
    next_cursor: str | None


def _page(
    session: Session,
    stmt: Select[tuple[RowT]],
    id_column: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
) -> Page[RowT]:
    """Keyset pagination, newest (highest id) first; ``total`` counts every match."""
    after = ids.decode_cursor(cursor)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    if after is not None:
        stmt = stmt.where(id_column < after)
    rows = list(session.scalars(stmt.order_by(None).order_by(id_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, total, ids.encode_cursor(rows[-1].id) if more else None)  # type: ignore[attr-defined]


def timestamp(value: datetime) -> str:
    """ISO 8601 in UTC without a zone, as Contextual's API prints it."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()


def _permanent(exc: ConflictError) -> InvalidInputError:
    # The SDK retries 409 as a transient conflict; a taken name is not one.
    return InvalidInputError(exc.message)


# -- datastores -------------------------------------------------------------------------------------


def get_datastore(session: Session, principal: Principal, datastore_id: str) -> Corpus:
    corpus_id = ids.decode(Kind.DATASTORE, datastore_id)
    return load_visible(session, Corpus, corpus_id, corpus_visible(principal), "Datastore")


def datastore_configuration(corpus: Corpus) -> dict | None:
    return (corpus.settings or {}).get("configuration")


def create_datastore(session: Session, principal: Principal, name: str, configuration: dict | None) -> Corpus:
    try:
        corpus = corpora.create_corpus(
            session, principal, name=name, description="", corpus_type="document", is_public=False, tags=[]
        )
    except ConflictError as exc:
        raise _permanent(exc) from None
    if configuration is not None:
        corpus.settings = {"configuration": configuration}
        session.flush()
    return corpus


def update_datastore(
    session: Session, principal: Principal, datastore_id: str, name: str | None, configuration: dict | None
) -> Corpus:
    corpus = get_datastore(session, principal, datastore_id)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if configuration is not None:
        # A new dict: the JSON column does not track in-place changes.
        changes["settings"] = {**(corpus.settings or {}), "configuration": configuration}
    try:
        return corpora.edit_corpus(session, principal, corpus.id, changes)
    except ConflictError as exc:
        raise _permanent(exc) from None


def datastores_page(
    session: Session, principal: Principal, agent_id: str | None, cursor: str | None, limit: int
) -> Page[Corpus]:
    stmt = corpora.corpora_query(principal, corpus_type="document")
    if agent_id is not None:
        agent = get_agent(session, principal, agent_id)
        stmt = stmt.where(Corpus.id.in_(_enabled_links(agent.id)))
    return _page(session, stmt, Corpus.id, cursor, limit)


def _enabled_links(agent_id: int) -> Select[tuple[int]]:
    return select(AgentCorpus.corpus_id).where(
        AgentCorpus.agent_id == agent_id, AgentCorpus.is_enabled.is_(True), AgentCorpus.is_deleted.is_(False)
    )


def _live_enabled_link(corpus_id: int) -> ColumnElement[bool]:
    return and_(
        AgentCorpus.corpus_id == corpus_id,
        AgentCorpus.is_enabled.is_(True),
        AgentCorpus.is_deleted.is_(False),
        AgentCorpus.agent_id.in_(select(Agent.id).where(Agent.is_deleted.is_(False))),
    )


def datastore_agent_ids(session: Session, principal: Principal, corpus: Corpus) -> list[int]:
    """The agents (that the caller may see) answering from this datastore."""
    return list(
        session.scalars(
            select(Agent.id)
            .where(
                agent_visible(principal),
                Agent.id.in_(select(AgentCorpus.agent_id).where(_live_enabled_link(corpus.id))),
            )
            .order_by(Agent.id)
        )
    )


def datastore_size_bytes(session: Session, corpus: Corpus) -> int:
    return session.scalar(
        select(func.coalesce(func.sum(Document.size_bytes), 0)).where(
            Document.corpus_id == corpus.id, Document.is_deleted.is_(False)
        )
    )


def delete_datastore(session: Session, principal: Principal, datastore_id: str) -> None:
    """400 while any agent (visible to the caller or not) still answers from it."""
    corpus = get_datastore(session, principal, datastore_id)
    users = session.scalar(select(func.count(AgentCorpus.id)).where(_live_enabled_link(corpus.id)))
    if users:
        raise InvalidInputError(
            f"The datastore is used by {users} agent(s); remove it from them before deleting it."
        )
    corpora.delete_corpus(session, principal, corpus.id)


def reset_datastore(session: Session, principal: Principal, datastore_id: str) -> None:
    corpus = get_datastore(session, principal, datastore_id)
    live = list(
        session.scalars(
            select(Document.id).where(Document.corpus_id == corpus.id, Document.is_deleted.is_(False))
        )
    )
    if live:
        documents.delete_documents(session, principal, corpus.id, live)


# -- documents --------------------------------------------------------------------------------------


def _check_metadata_keys(custom: dict[str, Any]) -> None:
    for key, value in custom.items():
        if not key.strip() or len(key) > MAX_METADATA_KEY or "\x00" in key:
            raise InvalidInputError(f"Invalid custom_metadata key {key[:MAX_METADATA_KEY]!r}.")
        if key == RESERVED_KEY:
            raise InvalidInputError(f"custom_metadata cannot use the reserved key {RESERVED_KEY!r}.")
        if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value])):
            raise InvalidInputError("custom_metadata must not contain NUL characters.")
    tags = custom.get(TAGS_KEY)
    if tags is not None and not (
        isinstance(tags, str) or (isinstance(tags, list) and all(isinstance(t, str) for t in tags))
    ):
        raise InvalidInputError("custom_metadata.tags must be a string or a list of strings.")


def _split_metadata(custom: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``custom_metadata`` as Parley keeps it: the document's metadata, and its tags."""
    _check_metadata_keys(custom)
    tags = custom.get(TAGS_KEY, [])
    metadata = {k: v for k, v in custom.items() if k != TAGS_KEY}
    return metadata, documents.clean_tags([tags] if isinstance(tags, str) else tags)


def _reserved(document: Document) -> dict[str, Any]:
    return dict((document.doc_metadata or {}).get(RESERVED_KEY) or {})


def custom_metadata(document: Document) -> dict[str, Any]:
    shown = {k: v for k, v in (document.doc_metadata or {}).items() if k != RESERVED_KEY}
    if document.tags:
        shown[TAGS_KEY] = list(document.tags)
    return shown


def custom_metadata_config(document: Document) -> dict[str, Any] | None:
    return _reserved(document).get("custom_metadata_config")


def ingestion_config(document: Document) -> dict[str, Any]:
    return _reserved(document).get("configuration") or {}


def _stored_metadata(metadata: dict[str, Any], reserved: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in reserved.items() if v is not None}
    return {**metadata, RESERVED_KEY: kept} if kept else metadata


def ingest_document(
    session: Session,
    principal: Principal,
    datastore_id: str,
    file: FileUpload,
    metadata: DocumentMetadataBody,
    configuration: dict | None,
) -> Document:
    """Store the file through Parley's one ingestion path; the custom metadata becomes the
    document's (filterable) metadata and tags. A file Parley cannot parse is refused here,
    before anything is stored."""
    corpus = get_datastore(session, principal, datastore_id)
    mime = documents.file_mime_type(file.name, file.declared_type)
    try:
        detect_format(file.name, mime, file.data)
    except ParseError as exc:
        raise InvalidInputError(str(exc)) from None
    custom, tags = _split_metadata(metadata.custom_metadata or {})
    reserved = {"custom_metadata_config": _config_dump(metadata), "configuration": configuration}
    upload = documents.Upload(
        content_type="file",
        name=file.name,
        source=file.name,
        mime_type=mime,
        data=file.data,
        upload_from=QUERY_SOURCE,
        tags=tags,
        metadata=_stored_metadata(custom, reserved),
    )
    document, _ = documents.create_document(session, principal, corpus.id, upload)
    return document


def _config_dump(metadata: DocumentMetadataBody) -> dict[str, Any] | None:
    if metadata.custom_metadata_config is None:
        return None
    return {k: v.model_dump(exclude_none=True) for k, v in metadata.custom_metadata_config.items()}


def get_document(session: Session, principal: Principal, datastore_id: str, document_id: str) -> Document:
    """A document of this datastore: through another datastore's path it is not found."""
    corpus = get_datastore(session, principal, datastore_id)
    document = documents.get_document(session, principal, ids.decode(Kind.DOCUMENT, document_id))
    if document.corpus_id != corpus.id:
        raise NotFoundError("Document")
    return document


def set_document_metadata(
    session: Session, principal: Principal, datastore_id: str, document_id: str, body: DocumentMetadataBody
) -> Document:
    """Each given part replaces the stored one; the chunks' copy (what filters read) follows."""
    document = get_document(session, principal, datastore_id, document_id)
    reserved = _reserved(document)
    changes: dict[str, Any] = {}
    if body.custom_metadata is not None:
        metadata, changes["tags"] = _split_metadata(body.custom_metadata)
    else:
        metadata = {k: v for k, v in (document.doc_metadata or {}).items() if k != RESERVED_KEY}
    if body.custom_metadata_config is not None:
        reserved["custom_metadata_config"] = _config_dump(body)
    changes["metadata"] = _stored_metadata(metadata, reserved)
    return documents.edit_document(session, principal, document.id, changes)


def delete_document(session: Session, principal: Principal, datastore_id: str, document_id: str) -> None:
    document = get_document(session, principal, datastore_id, document_id)
    documents.delete_documents(session, principal, document.corpus_id, [document.id])


def _retrying() -> ColumnElement[bool]:
    """Queued again after a failed attempt (the job keeps its attempt count)."""
    return exists(
        select(Job.id).where(Job.document_id == Document.id, Job.status == "queued", Job.attempts > 0)
    )


def _status_clause(status: str) -> ColumnElement[bool]:
    if status == "pending":
        return and_(Document.status == "queued", ~_retrying())
    if status == "retrying":
        return and_(Document.status == "queued", _retrying())
    if status == "processing":
        return Document.status.in_(PROCESSING)
    return Document.status == status


def document_status(document: Document, retrying: bool) -> str:
    if document.status == "queued":
        return "retrying" if retrying else "pending"
    if document.status in PROCESSING:
        return "processing"
    return document.status


def retrying_ids(session: Session, document_ids: Sequence[int]) -> set[int]:
    if not document_ids:
        return set()
    return set(
        session.scalars(
            select(Job.document_id).where(
                Job.document_id.in_(document_ids), Job.status == "queued", Job.attempts > 0
            )
        )
    )


@dataclass(frozen=True)
class DocumentFilter:
    name_prefix: str | None = None
    statuses: Sequence[str] = ()
    uploaded_after: datetime | None = None
    uploaded_before: datetime | None = None


def documents_page(
    session: Session,
    principal: Principal,
    datastore_id: str,
    filters: DocumentFilter,
    cursor: str | None,
    limit: int,
) -> Page[Document]:
    corpus = get_datastore(session, principal, datastore_id)
    stmt = documents.documents_query(session, principal, corpus.id)
    if filters.name_prefix:
        stmt = stmt.where(Document.name.startswith(filters.name_prefix, autoescape=True))
    if filters.statuses:
        stmt = stmt.where(or_(*[_status_clause(status) for status in filters.statuses]))
    if filters.uploaded_after is not None:
        stmt = stmt.where(Document.created_on >= _utc(filters.uploaded_after))
    if filters.uploaded_before is not None:
        stmt = stmt.where(Document.created_on <= _utc(filters.uploaded_before))
    return _page(session, stmt, Document.id, cursor, limit)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def documents_by_id(session: Session, document_ids: Sequence[int]) -> dict[int, Document]:
    """Documents named by search hits or stored answers (already checked by whoever produced
    them); deleted ones too, so an old answer still names its sources."""
    if not document_ids:
        return {}
    return {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(set(document_ids))))}


def chunks_by_id(session: Session, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
    """Chunks by id; a reindexed document's old chunks are gone and simply missing here."""
    if not chunk_ids:
        return {}
    return {c.id: c for c in session.scalars(select(Chunk).where(Chunk.id.in_(set(chunk_ids))))}


# -- agents -----------------------------------------------------------------------------------------


def get_agent(session: Session, principal: Principal, agent_id: str) -> Agent:
    return load_visible(session, Agent, ids.decode(Kind.AGENT, agent_id), agent_visible(principal), "Agent")


def agent_datastore_ids(session: Session, agent: Agent) -> list[int]:
    """The agent's datastores: its enabled links to live corpora, in the order they were made."""
    live = select(Corpus.id).where(Corpus.is_deleted.is_(False))
    return list(
        session.scalars(
            select(AgentCorpus.corpus_id)
            .where(
                AgentCorpus.agent_id == agent.id,
                AgentCorpus.is_enabled.is_(True),
                AgentCorpus.is_deleted.is_(False),
                AgentCorpus.corpus_id.in_(live),
            )
            .order_by(AgentCorpus.id)
        )
    )


def agent_query_count(session: Session, agent: Agent) -> int:
    return session.scalar(
        select(func.count(AgentResponse.id)).where(
            AgentResponse.agent_id == agent.id, AgentResponse.is_deleted.is_(False)
        )
    )


def agents_page(session: Session, principal: Principal, cursor: str | None, limit: int) -> Page[Agent]:
    stmt = agents_service.agents_query(session, principal, agents_service.AgentFilter())
    return _page(session, stmt, Agent.id, cursor, limit)


def _agents_project(session: Session, principal: Principal) -> Project:
    """The organisation's project for agents created through /v1, made on first use; the caller
    becomes a project member so the project is theirs to add agents to."""
    postgres = session.get_bind().dialect.name == "postgresql"
    # Locked so two first agents of an organisation do not make two projects.
    org = session.get(Organization, principal.org_id, with_for_update=postgres)
    assert org is not None
    ref = dict((org.settings or {}).get(ORG_SETTINGS_KEY) or {})
    project = session.get(Project, ref["project_id"]) if ref.get("project_id") else None
    if project is None or project.is_deleted:
        team = session.get(Team, ref["team_id"]) if ref.get("team_id") else None
        if team is None or team.is_deleted:
            team = Team(
                org_id=org.id,
                team_name=TEAM_NAME,
                description="Holds the agents created through the Contextual AI API (/v1).",
                created_by=principal.email,
            )
            session.add(team)
            session.flush()
        project = Project(
            org_id=org.id,
            team_id=team.id,
            project_name=PROJECT_NAME,
            description="Agents created through the Contextual AI API (/v1).",
            created_by=principal.email,
        )
        session.add(project)
        session.flush()
        org.settings = {
            **(org.settings or {}),
            ORG_SETTINGS_KEY: {"team_id": team.id, "project_id": project.id},
        }
    member = select(ProjectMember.id).where(
        ProjectMember.project_id == project.id, ProjectMember.user_id == principal.user_id
    )
    if session.scalar(member) is None:
        session.add(
            ProjectMember(project_id=project.id, user_id=principal.user_id, created_by=principal.email)
        )
        session.flush()
    return project


def _datastores(session: Session, principal: Principal, public_ids: Sequence[str]) -> list[Corpus]:
    found: dict[int, Corpus] = {}
    for public_id in public_ids:
        corpus = get_datastore(session, principal, public_id)
        found.setdefault(corpus.id, corpus)
    return list(found.values())


def _stored_configs(session: Session, principal: Principal, body: AgentUpdateBody) -> dict[str, Any] | None:
    """``agent_configs`` as given (unknown keys kept), filters validated, datastore keys as
    corpus ids."""
    if body.agent_configs is None:
        return None
    configs = body.agent_configs.model_dump(exclude_unset=True)
    rerank = configs.get("filter_and_rerank_config") or {}
    if rerank.get("default_metadata_filters") is not None:
        parse_filter(rerank["default_metadata_filters"])
    per_datastore = rerank.get("per_datastore_metadata_filters")
    if per_datastore:
        converted = {}
        for public_id, raw in per_datastore.items():
            parse_filter(raw)
            converted[str(get_datastore(session, principal, public_id).id)] = raw
        rerank["per_datastore_metadata_filters"] = converted
    return configs


def _merge_configs(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A given sub-config updates the stored one field by field; null removes it."""
    merged = dict(old)
    for key, value in new.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _check_suggested_queries(body: AgentUpdateBody) -> None:
    if body.suggested_queries and sum(len(q) for q in body.suggested_queries) > MAX_SUGGESTED_QUERY_CHARS:
        raise InvalidInputError(
            f"suggested_queries may hold at most {MAX_SUGGESTED_QUERY_CHARS} characters in total."
        )


def _apply_settings(agent: Agent, body: AgentUpdateBody, configs: dict[str, Any] | None) -> None:
    settings = dict(agent.settings or {})
    for name in AGENT_SETTING_FIELDS:
        if name in body.model_fields_set:
            value = getattr(body, name)
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = value
    if configs is not None:
        settings["agent_configs"] = _merge_configs(settings.get("agent_configs") or {}, configs)
    # A new dict: the JSON column does not track in-place changes.
    agent.settings = settings


def create_agent(session: Session, principal: Principal, body: AgentBody) -> Agent:
    """A Parley agent in the organisation's /v1 project. Parley gives every agent a default
    corpus: it is the agent's datastore when none is named, and is deleted when some are."""
    wanted = _datastores(session, principal, body.datastore_ids or [])
    configs = _stored_configs(session, principal, body)
    _check_suggested_queries(body)
    project = _agents_project(session, principal)
    fields = agents_service.AgentFields(
        project_id=project.id,
        agent_name=body.name,
        domain=body.description or "",
        prefix_prompt=body.system_prompt or "",
    )
    agent = agents_service.create_agent(session, principal, fields)
    if wanted:
        for default_corpus in agent_datastore_ids(session, agent):
            corpora.delete_corpus(session, principal, default_corpus)
        for corpus in wanted:
            links.add_link(session, principal, agent, corpus)
    _apply_settings(agent, body, configs)
    session.flush()
    return agent


def _sync_datastores(session: Session, principal: Principal, agent: Agent, wanted: list[Corpus]) -> None:
    """Make the agent's enabled links exactly ``wanted``; the default link, which cannot be
    removed, is disabled instead."""
    wanted_ids = {corpus.id for corpus in wanted}
    current = links.list_links(session, principal, agent.id)
    for link in current:
        if link.corpus_id in wanted_ids:
            if not link.is_enabled:
                links.set_enabled(session, principal, agent.id, link.corpus_id, True)
        elif link.is_default:
            if link.is_enabled:
                links.set_enabled(session, principal, agent.id, link.corpus_id, False)
        else:
            links.disconnect(session, principal, agent.id, link.corpus_id)
    linked = {link.corpus_id for link in current}
    for corpus in wanted:
        if corpus.id not in linked:
            links.add_link(session, principal, agent, corpus)


def update_agent(session: Session, principal: Principal, agent_id: str, body: AgentUpdateBody) -> Agent:
    agent = agents_service.get_editable_agent(session, principal, ids.decode(Kind.AGENT, agent_id))
    given = body.model_fields_set
    configs = _stored_configs(session, principal, body)
    _check_suggested_queries(body)
    changes: dict[str, Any] = {}
    if "name" in given:
        changes["agent_name"] = body.name
    if "description" in given:
        changes["domain"] = body.description or ""
    if "system_prompt" in given:
        changes["prefix_prompt"] = body.system_prompt or ""
    if changes:
        agents_service.edit_agent(session, principal, agent.id, agents_service.AgentFields(**changes))
    if body.datastore_ids is not None:
        _sync_datastores(session, principal, agent, _datastores(session, principal, body.datastore_ids))
    _apply_settings(agent, body, configs)
    agent.modified_by = principal.email
    session.flush()
    return agent


def delete_agent(session: Session, principal: Principal, agent_id: str) -> None:
    """Soft delete; its datastores stay."""
    agent = agents_service.get_editable_agent(
        session, principal, ids.decode(Kind.AGENT, agent_id), "delete this agent"
    )
    soft_delete(session, principal, agent)


# -- query ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuerySettings:
    """What the agent's stored configuration adds to a query."""

    agent_id: int
    multi_turn: bool
    filters: list[Filter]  # to AND with the request's
    top_k_retrieved: int | None
    top_k_reranked: int | None
    groundedness: bool
    llm_config_id: int | None  # another config than the agent's, chosen by ``llm_model_id``


def query_settings(
    session: Session, principal: Principal, agent_id: str, llm_model_id: str | None
) -> QuerySettings:
    agent = get_agent(session, principal, agent_id)
    chosen = _chosen_model(session, principal, agent, llm_model_id) if llm_model_id is not None else None
    configs = (agent.settings or {}).get("agent_configs") or {}
    rerank = configs.get("filter_and_rerank_config") or {}
    generation = configs.get("generate_response_config") or {}
    default_filter = rerank.get("default_metadata_filters")
    filters = [_stored_filter(default_filter, "default_metadata_filters")] if default_filter else []
    # Each per-datastore filter narrows only its own datastore's documents.
    searched = set(agent_datastore_ids(session, agent))
    per_datastore = {
        int(corpus_id): _stored_filter(raw, "per_datastore_metadata_filters")
        for corpus_id, raw in (rerank.get("per_datastore_metadata_filters") or {}).items()
        if int(corpus_id) in searched
    }
    if per_datastore:
        filters.append(per_corpus(per_datastore))
    return QuerySettings(
        agent_id=agent.id,
        multi_turn=bool((configs.get("global_config") or {}).get("enable_multi_turn")),
        filters=filters,
        top_k_retrieved=(configs.get("retrieval_config") or {}).get("top_k_retrieved_chunks"),
        top_k_reranked=rerank.get("top_k_reranked_chunks"),
        groundedness=generation.get("calculate_groundedness") is not False,
        llm_config_id=chosen,
    )


def _stored_filter(raw: Any, name: str) -> Filter:
    """A filter of the agent's configuration. Filters are checked when stored; one stored before
    a limit existed is refused with every query (a 400 saying which), not ignored: answering
    without the filter would show documents the agent's owner meant to keep out."""
    try:
        return parse_filter(raw)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"The agent's stored {name} are no longer valid; update the agent. {exc.message}"
        ) from exc


def _chosen_model(session: Session, principal: Principal, agent: Agent, llm_model_id: str) -> int | None:
    """The LLM config a request's ``llm_model_id`` picks: None for the agent's own model, else
    another active config of the organisation named by id, name, model or deployment."""
    wanted = llm_model_id.strip()
    config = llm_configs.resolve_for_agent(session, agent)
    if config is None:
        own = {EXTRACTIVE_MODEL_NAME}
    else:
        own = {str(config.id), config.name, config.model, config.deployment_name} - {""}
    if wanted in own:
        return None
    if wanted.isdigit():
        try:
            return llm_configs.usable_config(session, agent.org_id, int(wanted)).id
        except NotFoundError:
            pass
    try:
        return llm_configs.find_deployment(session, principal, wanted).id
    except NotFoundError:
        raise InvalidInputError(
            f"Unknown llm_model_id {llm_model_id!r}: name one of the organisation's active LLM configs "
            f"(by id, name or model), or leave it out for the agent's own ({sorted(own)[0]!r})."
        ) from None


def conversation_id(public_id: str) -> int:
    return ids.decode(Kind.CONVERSATION, public_id)


def open_conversation(session: Session, principal: Principal, agent_id: int) -> ChatThread:
    """A new chat thread, made before a streamed answer so its id can be sent first."""
    return threads.create_thread(session, principal, agent_id, query_source=QUERY_SOURCE)


def drop_unused_conversation(session: Session, thread_id: int) -> None:
    """Delete a thread opened for a stream that ended before any answer was written in it."""
    answered = select(AgentResponse.id).where(AgentResponse.chat_thread_id == thread_id).exists()
    session.execute(delete(ChatThread).where(ChatThread.id == thread_id, ~answered))


def set_message_id(session: Session, response_id: int, message_id: str) -> None:
    """Remember the id a stream announced before its response row existed."""
    session.execute(
        update(AgentResponse).where(AgentResponse.id == response_id).values(message_id=message_id)
    )


def find_message(session: Session, principal: Principal, agent_id: str, message_id: str) -> AgentResponse:
    """A response of this agent the caller may see, by its encoded id or by the id its stream
    announced."""
    agent = get_agent(session, principal, agent_id)
    response_id = ids.try_decode(Kind.MESSAGE, message_id)
    if response_id is not None:
        stmt = select(AgentResponse).where(AgentResponse.id == response_id)
    else:
        stmt = select(AgentResponse).where(AgentResponse.message_id == message_id.strip().lower())
    row = session.scalars(
        stmt.where(AgentResponse.agent_id == agent.id, responses.response_visible(principal))
    ).first()
    if row is None:
        raise NotFoundError("Message")
    return row


def message_data_points(row: AgentResponse) -> dict[int, dict[str, Any]]:
    """The chunks the answer was given, by chunk id, as the answer path stored them."""
    return {int(point["chunk_id"]): point for point in (row.response or {}).get("data_points") or []}


def give_feedback(
    session: Session,
    principal: Principal,
    agent_id: str,
    message_id: str,
    feedback: str,
    content_id: str | None,
    explanation: str | None,
) -> ResponseFeedback:
    """One vote per user and message (Parley's ResponseFeedback): thumbs_up is an upvote,
    thumbs_down and flagged downvotes, removed withdraws the vote. Feedback on one retrieved
    content names it in the comment."""
    row = find_message(session, principal, agent_id, message_id)
    notes = []
    if content_id is not None:
        if ids.decode(Kind.CONTENT, content_id) not in message_data_points(row):
            raise NotFoundError("Content")
        notes.append(f"[content {content_id}]")
    if feedback == "flagged":
        notes.append("[flagged]")
    comment = "" if feedback == "removed" else " ".join([*notes, explanation or ""]).strip()
    return responses.set_feedback(
        session,
        principal,
        row.id,
        up=feedback == "thumbs_up",
        down=feedback in ("thumbs_down", "flagged"),
        comment=comment,
    )
