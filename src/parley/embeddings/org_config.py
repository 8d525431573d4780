"""Which embedder an organisation uses, and the rule that keeps its vector spaces apart.

An organisation uses the installation's embedder (``PARLEY_INGEST__EMBEDDER...``) unless its
admin sets an OpenAI-compatible endpoint of its own, stored in ``Organization.settings["embedder"]``
with the API key kept as LLM configs keep theirs (``encrypted:...`` or ``env:PARLEY_LLM_KEY_...``).

Each embedder has a stable *signature* (``local:all-MiniLM-L6-v2``, ``openai:<base_url>#<model>``).
The rule: **a chunk's vector is searchable only while the embedder that wrote it is its
organisation's current one.** When an organisation's signature changes, every vector it has is
withheld from vector search (``embedding_dim`` set to 0: the HNSW index and the per-size caches
only ever read vectors of a real size; lexical search is untouched), and each corpus holding them
is marked ``embedding_refresh_needed`` until a refresh re-embeds it. A corpus records in
``Corpus.settings["embedder"]`` the signature that wrote its latest chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from pydantic import SecretStr
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.corpora.models import Chunk, Corpus
from parley.embeddings.base import MINILM_MODEL_NAME, Embedder, EmbeddingError
from parley.errors import InvalidInputError, NotFoundError
from parley.llm import service as llm_configs
from parley.llm.models import LLMConfig
from parley.settings import Settings

ORG_EMBEDDER = "embedder"
CORPUS_EMBEDDER = "embedder"
REFRESH_NEEDED = "embedding_refresh_needed"
MAX_MODEL = 200
MAX_BASE_URL = 500
MAX_DIMENSION = 16_000  # pgvector's HNSW limit is 2,000; exact search takes any size up to this

Kind = Literal["onnx", "torch", "openai"]


@dataclass(frozen=True)
class EmbedderSpec:
    """What builds an embedder; ``api_key_ref`` is an LLM-config style key reference (or "")."""

    kind: Kind
    model: str
    base_url: str = ""
    api_key_ref: str = ""
    dimension: int | None = None
    # Set from the installation settings: the key itself, never stored in the database.
    installation_key: str = ""

    @property
    def signature(self) -> str:
        # The ONNX and torch MiniLM share one vector space (cosine >= 0.999): one signature.
        if self.kind == "openai":
            return f"openai:{self.base_url}#{self.model}"
        return f"local:{self.model}"

    @property
    def is_remote(self) -> bool:
        return self.kind == "openai"


class OrgEmbedder(NamedTuple):
    """An organisation's embedder, with the signature its vectors are recorded under."""

    embedder: Embedder
    signature: str


@dataclass(frozen=True)
class EmbedderChange:
    signature: str
    previous: str
    # Corpora whose vectors were withheld by this change and now need a refresh.
    stale_corpus_ids: list[int]


def installation_spec(settings: Settings) -> EmbedderSpec:
    ingest = settings.ingest
    if ingest.embedder != "openai":
        return EmbedderSpec(kind=ingest.embedder, model=MINILM_MODEL_NAME)
    key = ingest.embedder_api_key
    return EmbedderSpec(
        kind="openai",
        model=ingest.embedder_model or "",
        base_url=(ingest.embedder_base_url or "").rstrip("/"),
        dimension=ingest.embedder_dimension,
        installation_key=key.get_secret_value() if key else "",
    )


def org_spec(session: Session, org_id: int, settings: Settings) -> EmbedderSpec:
    """The organisation's own endpoint, or the installation's embedder."""
    org = session.get(Organization, org_id)
    stored = (org.settings or {}).get(ORG_EMBEDDER) if org is not None else None
    if not stored:
        return installation_spec(settings)
    return EmbedderSpec(
        kind="openai",
        model=stored["model"],
        base_url=stored["base_url"],
        api_key_ref=stored.get("api_key_ref", ""),
        dimension=stored.get("dimension"),
    )


def api_key(spec: EmbedderSpec, settings: Settings) -> str | None:
    """The key to send, resolved now (an ``env:`` variable is read at each use)."""
    if spec.installation_key:
        return spec.installation_key
    if not spec.api_key_ref:
        return None
    # The same reference format and checks as an LLM config's key: one resolver for both.
    holder = LLMConfig(name="embedding endpoint", api_key_ref=spec.api_key_ref)
    try:
        return llm_configs.api_key_for(holder, settings)
    except llm_configs.KeyUnavailableError as exc:
        raise EmbeddingError(exc.message) from exc


# -- changing an organisation's embedder ----------------------------------------------------------


@dataclass(frozen=True)
class EndpointFields:
    base_url: str
    model: str
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    dimension: int | None = None


def set_endpoint(session: Session, org_id: int, fields: EndpointFields, settings: Settings) -> EmbedderChange:
    """Use an OpenAI-compatible endpoint for the organisation (400 for unusable values)."""
    base_url = fields.base_url.strip().rstrip("/")
    model = fields.model.strip()
    if not llm_configs._is_http_url(base_url) or len(base_url) > MAX_BASE_URL:
        raise InvalidInputError(
            f"base_url must be an http(s) URL of at most {MAX_BASE_URL} characters (usually ending in /v1)."
        )
    if not model or len(model) > MAX_MODEL or "\x00" in model:
        raise InvalidInputError(f"model must be a name of 1 to {MAX_MODEL} characters.")
    if fields.dimension is not None and not 1 <= fields.dimension <= MAX_DIMENSION:
        raise InvalidInputError(f"dimension must be between 1 and {MAX_DIMENSION}.")
    if fields.api_key is not None and fields.api_key_env is not None:
        raise InvalidInputError("Send either api_key or api_key_env, not both.")
    given = {"api_key": fields.api_key, "api_key_env": fields.api_key_env}
    key_fields = llm_configs.LLMConfigFields(**{k: v for k, v in given.items() if v is not None})
    key_ref = llm_configs._key_ref(key_fields, settings) or ""
    stored = {"base_url": base_url, "model": model, "api_key_ref": key_ref, "dimension": fields.dimension}
    return _change(session, org_id, settings, stored)


def use_installation_default(session: Session, org_id: int, settings: Settings) -> EmbedderChange:
    return _change(session, org_id, settings, None)


def _change(session: Session, org_id: int, settings: Settings, stored: dict | None) -> EmbedderChange:
    org = session.get(Organization, org_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if org is None:
        raise NotFoundError("Organization")
    previous = org_spec(session, org_id, settings).signature
    preferences = {k: v for k, v in (org.settings or {}).items() if k != ORG_EMBEDDER}
    org.settings = {**preferences, ORG_EMBEDDER: stored} if stored else preferences
    session.flush()
    current = org_spec(session, org_id, settings).signature
    stale = withhold_vectors(session, org_id) if current != previous else []
    return EmbedderChange(signature=current, previous=previous, stale_corpus_ids=stale)


def withhold_vectors(session: Session, org_id: int) -> list[int]:
    """Take every searchable vector of the organisation out of vector search and mark the
    corpora that held them as needing a refresh; returns those corpora's ids."""
    corpus_ids = list(
        session.scalars(
            select(Corpus.id)
            .where(
                Corpus.org_id == org_id,
                exists().where(Chunk.corpus_id == Corpus.id, Chunk.embedding_dim != 0),
            )
            .order_by(Corpus.id)
        )
    )
    if not corpus_ids:
        return []
    session.execute(
        update(Chunk)
        .where(Chunk.corpus_id.in_(corpus_ids), Chunk.embedding_dim != 0)
        .values(embedding_dim=0)
        .execution_options(synchronize_session=False)
    )
    for corpus in session.scalars(select(Corpus).where(Corpus.id.in_(corpus_ids))):
        corpus.settings = {**(corpus.settings or {}), REFRESH_NEEDED: True}
        # The per-process vector caches reload a corpus whose version moved.
        corpus.index_version = corpus.index_version + 1
    return corpus_ids


def record_corpus_embedder(session: Session, corpus_id: int, signature: str) -> None:
    """After a document's chunks were written with ``signature``: remember it on the corpus, and
    clear the refresh mark once no withheld vector is left."""
    corpus = session.get(Corpus, corpus_id)
    if corpus is None:
        return
    settings = dict(corpus.settings or {})
    if settings.get(REFRESH_NEEDED):
        withheld = session.scalar(
            select(exists().where(Chunk.corpus_id == corpus_id, Chunk.embedding_dim == 0))
        )
        if not withheld:
            settings.pop(REFRESH_NEEDED)
    settings[CORPUS_EMBEDDER] = signature
    if settings != corpus.settings:
        corpus.settings = settings


# -- reading, for the CLI and the admin API -------------------------------------------------------


@dataclass(frozen=True)
class EmbedderView:
    """An organisation's embedder as an admin sees it (never the key or its reference)."""

    source: Literal["organization", "installation"]
    kind: str
    model: str
    base_url: str
    dimension: int | None
    api_key_set: bool
    signature: str
    refresh_needed_corpus_ids: list[int]


def describe(session: Session, org_id: int, settings: Settings) -> EmbedderView:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFoundError("Organization")
    own = bool((org.settings or {}).get(ORG_EMBEDDER))
    spec = org_spec(session, org_id, settings)
    return EmbedderView(
        source="organization" if own else "installation",
        kind=spec.kind,
        model=spec.model,
        base_url=spec.base_url,
        dimension=spec.dimension,
        api_key_set=bool(spec.api_key_ref or spec.installation_key),
        signature=spec.signature,
        refresh_needed_corpus_ids=refresh_needed(session, org_id),
    )


def refresh_needed(session: Session, org_id: int) -> list[int]:
    """The organisation's live corpora that still hold withheld vectors."""
    return list(
        session.scalars(
            select(Corpus.id)
            .where(
                Corpus.org_id == org_id,
                Corpus.is_deleted.is_(False),
                exists().where(Chunk.corpus_id == Corpus.id, Chunk.embedding_dim == 0),
            )
            .order_by(Corpus.id)
        )
    )
