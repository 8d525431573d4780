"""Parley rows in the shapes of the ``contextual-client`` SDK's response models.

Every field those pydantic models require is always present (``_strict_response_validation``
clients need them); optional fields are left out when Parley has nothing for them.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from parley.agents.models import Agent
from parley.corpora.models import Corpus, Document
from parley.surfaces.contextual import ids
from parley.surfaces.contextual.ids import Kind
from parley.surfaces.contextual.service import (
    DEFAULT_TEMPLATE,
    Page,
    custom_metadata,
    custom_metadata_config,
    datastore_configuration,
    document_status,
    ingestion_config,
    timestamp,
)

# RetrievalContent.format is this literal; other formats are reported as html (as Contextual
# reports the Markdown its notebooks ingest), their real format is in ctxl_metadata.file_format.
FORMATS = ("pdf", "html", "htm", "mhtml", "doc", "docx", "ppt", "pptx")
_FORMAT_BY_MIME = {
    "application/pdf": "pdf",
    "text/html": "html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/markdown": "md",
    "text/plain": "txt",
}


def file_format(document: Document) -> str:
    """The document's own format: its extension, else what its MIME type says."""
    suffix = PurePath(document.name).suffix.lower().lstrip(".")
    if suffix:
        return suffix
    if document.content_type == "weblink":
        return "html"
    return _FORMAT_BY_MIME.get(document.mime_type.split(";")[0].strip().lower(), "txt")


def retrieval_format(document: Document) -> str:
    fmt = file_format(document)
    return fmt if fmt in FORMATS else "html"


def document_title(document: Document) -> str:
    """The name without its extension, as Contextual's ``doc_name`` shows it."""
    stem = PurePath(document.name).stem if PurePath(document.name).suffix else document.name
    return stem or document.name


def page_of(page: Page[Any], key: str, items: list[dict]) -> dict:
    body: dict[str, Any] = {key: items, "total_count": page.total}
    if page.next_cursor is not None:
        body["next_cursor"] = page.next_cursor
    return body


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# -- datastores and documents ---------------------------------------------------------------------


def datastore(corpus: Corpus) -> dict:
    return _without_none(
        {
            "id": ids.encode(Kind.DATASTORE, corpus.id),
            "name": corpus.name,
            "created_at": timestamp(corpus.created_on),
            "datastore_type": "UNSTRUCTURED",
            "configuration": datastore_configuration(corpus),
        }
    )


def datastore_metadata(corpus: Corpus, agent_ids: list[int], size_bytes: int) -> dict:
    return _without_none(
        {
            "name": corpus.name,
            "created_at": timestamp(corpus.created_on),
            "agent_ids": [ids.encode(Kind.AGENT, agent_id) for agent_id in agent_ids],
            "datastore_type": "UNSTRUCTURED",
            "configuration": datastore_configuration(corpus),
            "datastore_usages": {"size_gb": size_bytes / 1e9},
        }
    )


def document(row: Document, retrying: bool) -> dict:
    return _without_none(
        {
            "id": ids.encode(Kind.DOCUMENT, row.id),
            "name": row.name,
            "created_at": timestamp(row.created_on),
            "updated_at": timestamp(row.modified_on),
            "status": document_status(row, retrying),
            "custom_metadata": custom_metadata(row),
            "custom_metadata_config": custom_metadata_config(row),
            "has_access": True,
            "ingestion_config": ingestion_config(row),
        }
    )


# -- agents -----------------------------------------------------------------------------------------


def agent_item(agent: Agent) -> dict:
    return {
        "id": ids.encode(Kind.AGENT, agent.id),
        "name": agent.agent_name,
        "description": agent.domain or "",
    }


def agent_configs(agent: Agent) -> dict | None:
    """The stored configs with the per-datastore filter keys shown as datastore ids again."""
    stored = (agent.settings or {}).get("agent_configs")
    if stored is None:
        return None
    configs = dict(stored)
    rerank = dict(configs.get("filter_and_rerank_config") or {})
    per_datastore = rerank.get("per_datastore_metadata_filters")
    if per_datastore:
        rerank["per_datastore_metadata_filters"] = {
            ids.encode(Kind.DATASTORE, int(corpus_id)): raw for corpus_id, raw in per_datastore.items()
        }
        configs["filter_and_rerank_config"] = rerank
    return configs


def agent_metadata(agent: Agent, datastore_ids: list[int], queries: int) -> dict:
    settings = agent.settings or {}
    return _without_none(
        {
            "name": agent.agent_name,
            "description": agent.domain or "",
            "datastore_ids": [ids.encode(Kind.DATASTORE, corpus_id) for corpus_id in datastore_ids],
            "template_name": settings.get("template_name") or DEFAULT_TEMPLATE,
            "system_prompt": agent.prefix_prompt or "",
            "multiturn_system_prompt": settings.get("multiturn_system_prompt"),
            "no_retrieval_system_prompt": settings.get("no_retrieval_system_prompt"),
            "filter_prompt": settings.get("filter_prompt"),
            "suggested_queries": settings.get("suggested_queries"),
            "agent_configs": agent_configs(agent),
            "agent_usages": {"eval": 0, "query": queries, "tune": 0},
        }
    )
