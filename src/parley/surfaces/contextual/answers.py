"""``POST /v1/agents/{agent_id}/query`` over Parley's answer path, as JSON or as a stream.

A query becomes a :class:`~parley.answers.service.Question`: the last user message is the
question, ``conversation_id`` is the chat thread, the request's ``documents_filters`` and the
agent's default filters are ANDed into ``Question.filters``, and the top-k settings become
``Question.top_k``. Earlier messages (or the thread's own history) count only when the agent
has ``global_config.enable_multi_turn``, as on Contextual. The answer is recorded by the
answer service like any other, so it shows in Ejento's response lists and usage logs.

Translation of the answer payload:

* ``message.content``: the answer with Contextual's citation markers ``[n]()``; the spans of
  ``attributions`` and ``groundedness_scores`` are moved to match;
* ``retrieval_contents``: every chunk the answer was given (``data_points``), numbered as the
  markers cite them; chunk ids become content ids (also inside ``attributions``);
* ``groundedness_scores``: 1 for a supported sentence, 0 otherwise (left out when the agent's
  ``generate_response_config.calculate_groundedness`` is false).

Streams send ``data: {"event": ..., "data": ...}`` frames: ``metadata`` (ids first), ``stepping``,
``retrievals`` (as soon as the search is done, before any text), ``message_delta``...,
``attributions``, ``message_complete``, ``end``, the order of spec/contextual-ai.md.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from parley.access.principal import Principal
from parley.answers.citations import find_citation_markers
from parley.answers.service import Answer, AnswerService, Delta, Event, Question, Retrieved, Status, Turn
from parley.answers.sources import Source
from parley.db.engine import session_scope
from parley.errors import InvalidInputError, NotFoundError
from parley.http.streaming import stream_failure
from parley.search.filters import CompositeFilter, parse_filter
from parley.search.service import Filter
from parley.surfaces.contextual import ids, structured, views
from parley.surfaces.contextual import service as contextual
from parley.surfaces.contextual.ids import Kind
from parley.surfaces.contextual.schemas import Message, OverrideConfiguration, QueryBody

MAX_TOP_K = 50
# A citation marker is far shorter: a "[" further back than this starts no marker.
MARKER_WINDOW = 64
_STEPS = {"query_rewrite_start": "retrieval", "assistant_start": "generation"}


@dataclass(frozen=True)
class QueryPlan:
    agent_id: int
    question: Question
    schema: dict[str, Any] | None  # structured_output.json_schema
    groundedness: bool


def plan_query(session: Session, principal: Principal, agent_id: str, body: QueryBody) -> QueryPlan:
    """Everything checked before any model runs: bad input is refused with nothing written."""
    last = body.messages[-1]
    if last.role != "user":
        raise InvalidInputError("The last message must be a user message.")
    if not last.content.strip():
        raise InvalidInputError("The question cannot be empty.")
    settings = contextual.query_settings(session, principal, agent_id, body.llm_model_id)
    schema = body.structured_output.json_schema if body.structured_output else None
    if schema is not None:
        structured.check_schema(schema)
    raw_filters = [body.documents_filters] if body.documents_filters else []
    filters = _all_of([*(parse_filter(raw) for raw in raw_filters), *settings.filters])
    thread_id = contextual.conversation_id(body.conversation_id) if body.conversation_id else None
    history: tuple[Turn, ...] | None = ()
    if settings.multi_turn:
        # A conversation brings its own history; otherwise the messages before the question do.
        history = None if thread_id is not None else _turns(body.messages[:-1])
    question = Question(
        text=last.content,
        chat_thread_id=thread_id,
        history=history,
        query_source=contextual.QUERY_SOURCE,
        suggest_followups=False,
        filters=filters,
        top_k=_top_k(settings, body.override_configuration),
        llm_config_id=settings.llm_config_id,
    )
    return QueryPlan(settings.agent_id, question, schema, settings.groundedness)


def _all_of(filters: list[Filter]) -> Filter | None:
    if len(filters) <= 1:
        return filters[0] if filters else None
    return CompositeFilter(filters=filters, operator="AND")


def _turns(messages: Sequence[Message]) -> tuple[Turn, ...]:
    """User messages, each with the assistant reply that follows it; other roles are context
    Parley has no place for."""
    turns: list[Turn] = []
    for message in messages:
        if message.role == "user":
            turns.append(Turn(message.content, ""))
        elif message.role == "assistant" and turns and not turns[-1].bot:
            turns[-1] = Turn(turns[-1].user, message.content)
    return tuple(turns)


def _top_k(settings: contextual.QuerySettings, overrides: OverrideConfiguration | None) -> int | None:
    """How many chunks the answer gets: Parley does not rerank, so the smaller of the retrieved
    and reranked counts (the request's overrides first, then the agent's configs)."""
    retrieved = (overrides and overrides.top_k_retrieved_chunks) or settings.top_k_retrieved
    reranked = (overrides and overrides.top_k_reranked_chunks) or settings.top_k_reranked
    counts = [count for count in (retrieved, reranked) if count]
    return min([*counts, MAX_TOP_K]) if counts else None


# -- retrieval contents -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Retrieved:
    number: int
    chunk_id: int
    document_id: int
    corpus_id: int
    text: str
    page: int | None
    score: float


def _from_source(source: Source) -> _Retrieved:
    return _Retrieved(
        source.number,
        source.chunk_id,
        source.document_id,
        source.corpus_id,
        source.text,
        source.page,
        source.score,
    )


def _from_data_point(point: dict[str, Any]) -> _Retrieved:
    return _Retrieved(
        int(point["number"]),
        int(point["chunk_id"]),
        int(point["document_id"]),
        int(point["corpus_id"]),
        str(point.get("content") or ""),
        point.get("page"),
        float(point.get("score") or 0.0),
    )


def retrieval_contents(
    session: Session, items: Sequence[_Retrieved], include_text: bool, metadata_key: str = "ctxl_metadata"
) -> list[dict[str, Any]]:
    documents = contextual.documents_by_id(session, [item.document_id for item in items])
    chunks = contextual.chunks_by_id(session, [item.chunk_id for item in items])
    contents = []
    for item in items:
        document = documents.get(item.document_id)
        if document is None:
            continue
        chunk = chunks.get(item.chunk_id)
        custom = contextual.custom_metadata(document)
        config = contextual.custom_metadata_config(document) or {}
        # Only fields configured returned_in_response; "__" fields are for filtering only.
        returned = {
            key: value
            for key, value in custom.items()
            if (config.get(key) or {}).get("returned_in_response") and not key.startswith("__")
        }
        url = custom.get("url") or custom.get("link")
        if url is None and document.content_type == "weblink":
            url = document.source
        content_id = ids.encode(Kind.CONTENT, item.chunk_id)
        entry: dict[str, Any] = {
            "content_id": content_id,
            "doc_id": ids.encode(Kind.DOCUMENT, item.document_id),
            "doc_name": views.document_title(document),
            "format": views.retrieval_format(document),
            "type": "file",
            "number": item.number,
            "page": item.page,
            "score": round(item.score, 6),
            "datastore_id": ids.encode(Kind.DATASTORE, item.corpus_id),
            "url": url if isinstance(url, str) else None,
            "custom_metadata": returned or None,
            "custom_metadata_config": config or None,
            "content_text": item.text if include_text else None,
            metadata_key: {
                "chunk_id": content_id,
                "chunk_size": chunk.token_count if chunk else None,
                "date_created": contextual.timestamp(document.created_on),
                "document_title": views.document_title(document),
                "file_format": views.file_format(document),
                "file_name": document.name,
                "is_figure": False,
                "page": item.page,
                "section_title": chunk.section if chunk else None,
            },
        }
        entry[metadata_key] = {k: v for k, v in entry[metadata_key].items() if v is not None}
        contents.append({k: v for k, v in entry.items() if v is not None})
    return contents


def retrieval_info(
    session: Session, principal: Principal, agent_id: str, message_id: str, content_ids: list[str]
) -> dict[str, Any]:
    """ContentMetadata of contents this message retrieved. Parley keeps no block coordinates,
    so the box is the whole page (0..1 on both axes) and there is no page image."""
    row = contextual.find_message(session, principal, agent_id, message_id)
    points = contextual.message_data_points(row)
    wanted = []
    for content_id in content_ids:
        chunk_id = ids.decode(Kind.CONTENT, content_id)
        if chunk_id not in points:
            raise NotFoundError("Content")
        wanted.append((content_id, points[chunk_id]))
    return {
        "content_metadatas": [
            {
                "content_type": "unstructured",
                "content_id": content_id,
                "content_text": str(point.get("content") or ""),
                "document_id": ids.encode(Kind.DOCUMENT, int(point["document_id"])),
                "page": int(point.get("page") or 1),
                "page_img": "",
                "width": 1.0,
                "height": 1.0,
                "x0": 0.0,
                "y0": 0.0,
                "x1": 1.0,
                "y1": 1.0,
            }
            for content_id, point in wanted
        ]
    }


# -- citation markers -------------------------------------------------------------------------------


def contextual_markers(text: str) -> tuple[str, list[int]]:
    """``text`` with each ``[n]`` written ``[n]()``, and where the ``()`` went (old offsets)."""
    inserted = [m.end for m in find_citation_markers(text) if not text[m.start : m.end].endswith("()")]
    pieces, position = [], 0
    for end in inserted:
        pieces.append(text[position:end] + "()")
        position = end
    pieces.append(text[position:])
    return "".join(pieces), inserted


def _moved(index: int, inserted: list[int]) -> int:
    # A marker ending at a span's end is inside the span, so its "()" is too.
    return index + 2 * bisect.bisect_right(inserted, index)


class _MarkerStream:
    """Rewrites markers in streamed text: text from the last ``[`` on waits until the marker
    can be complete, so the deltas always add up to the rewritten answer."""

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, delta: str) -> str:
        self.pending += delta
        cut = self.pending.rfind("[")
        if cut == -1 or len(self.pending) - cut > MARKER_WINDOW:
            cut = len(self.pending)
        ready, self.pending = self.pending[:cut], self.pending[cut:]
        return contextual_markers(ready)[0]

    def finish(self) -> str:
        ready, self.pending = self.pending, ""
        return contextual_markers(ready)[0]


# -- responses --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Message:
    content: str
    attributions: list[dict[str, Any]] | None
    groundedness_scores: list[dict[str, Any]] | None


def _message(plan: QueryPlan, payload: dict[str, Any]) -> _Message:
    text = str(payload["answer"])
    if plan.schema is not None:
        # Structured answers carry no attributions (as on Contextual).
        return _Message(json.dumps(structured.fill(plan.schema, text), ensure_ascii=False), None, None)
    content, inserted = contextual_markers(text)
    attributions = [
        {
            "content_ids": [ids.encode(Kind.CONTENT, int(chunk_id)) for chunk_id in span["content_ids"]],
            "start_idx": _moved(span["start_idx"], inserted),
            "end_idx": _moved(span["end_idx"], inserted),
        }
        for span in payload.get("attributions") or []
    ]
    scores = None
    if plan.groundedness:
        scores = [
            {
                "start_idx": _moved(span["start_idx"], inserted),
                "end_idx": _moved(span["end_idx"], inserted),
                "score": int(bool(span.get("supported"))),
            }
            for span in payload.get("groundedness_scores") or []
        ]
    return _Message(content, attributions, scores)


def _contents_of(session: Session, answer: Answer, include_text: bool) -> list:
    points = [_from_data_point(point) for point in answer.payload.get("data_points") or []]
    return retrieval_contents(session, points, include_text)


def _streamed_contents(service: AnswerService, retrieved: Retrieved, include_text: bool) -> list:
    with session_scope(service.read_sessions) as session:
        points = [_from_source(source) for source in retrieved.sources]
        return retrieval_contents(session, points, include_text, "contextual_metadata")


def answer_json(
    service: AnswerService, principal: Principal, plan: QueryPlan, include_text: bool
) -> dict[str, Any]:
    prepared = service.prepare(principal, plan.agent_id, plan.question)
    answer = next(event for event in service.answer(prepared) if isinstance(event, Answer))
    message = _message(plan, answer.payload)
    with session_scope(service.read_sessions) as session:
        contents = _contents_of(session, answer, include_text)
    body: dict[str, Any] = {
        "conversation_id": ids.encode(Kind.CONVERSATION, answer.thread_id),
        "message_id": ids.encode(Kind.MESSAGE, answer.agent_response_id),
        "message": {"role": "assistant", "content": message.content},
        "retrieval_contents": contents,
    }
    if message.attributions is not None:
        body["attributions"] = message.attributions
    if message.groundedness_scores is not None:
        body["groundedness_scores"] = message.groundedness_scores
    return body


def retrievals_only(
    service: AnswerService, principal: Principal, agent_id: str, body: QueryBody
) -> dict[str, Any]:
    """Retrieval without generation writes nothing: no conversation is opened, so without a
    ``conversation_id`` the one returned is a fresh UUID that names no stored conversation.
    The request is checked and its retrieval prepared in one read; the query is embedded
    outside any transaction (the embedder may be a remote endpoint)."""
    with session_scope(service.read_sessions) as session:
        plan = plan_query(session, principal, agent_id, body)
        retrieval = service.prepare_retrieval(session, principal, plan.agent_id, plan.question)
    sources = service.retrieve(retrieval)
    with session_scope(service.read_sessions) as session:
        contents = retrieval_contents(session, [_from_source(s) for s in sources], include_text=True)
    thread_id = plan.question.chat_thread_id
    return {
        "conversation_id": ids.encode(Kind.CONVERSATION, thread_id) if thread_id else ids.foreign_uuid(),
        "message": None,
        "retrieval_contents": contents,
    }


def answer_stream(
    service: AnswerService, principal: Principal, plan: QueryPlan, include_text: bool, request_id: str
) -> Generator[str, None, None]:
    """Checks the request now (errors are plain JSON answers); the returned iterator opens a
    conversation when the request named none (its id is announced first), then runs the answer.
    A stream announces its message id before the response row exists, so that id is a random
    UUID stored on the row once it is written. A conversation opened for the stream is deleted
    again if the stream ends before an answer is written in it (a failure, or the client leaving
    before the answer began); a failure after the stream opened is ``error`` then ``end``."""
    prepared = service.prepare(principal, plan.agent_id, plan.question)
    message_id = ids.foreign_uuid()

    def events() -> Generator[str, None, None]:
        opened: int | None = None
        try:
            question = plan.question
            if question.chat_thread_id is None:
                with session_scope(service.write_sessions) as session:
                    opened = contextual.open_conversation(session, principal, plan.agent_id).id
                question = dataclasses.replace(question, chat_thread_id=opened)
            assert question.chat_thread_id is not None
            conversation = ids.encode(Kind.CONVERSATION, question.chat_thread_id)
            metadata = {"conversation_id": conversation, "message_id": message_id, "request_id": request_id}
            yield _frame("metadata", metadata)
            answering = service.prepare(principal, plan.agent_id, question) if opened else prepared
            yield from _answer_frames(service, plan, service.answer(answering), include_text, message_id)
        except Exception as exc:
            status, message = stream_failure(exc)
            yield _frame("error", {"status": status, "message": message})
        finally:
            if opened is not None:
                with session_scope(service.write_sessions) as session:
                    contextual.drop_unused_conversation(session, opened)
        yield _frame("end", {})

    return events()


def _answer_frames(
    service: AnswerService,
    plan: QueryPlan,
    answer_events: Generator[Event, None, None],
    include_text: bool,
    message_id: str,
) -> Iterator[str]:
    markers = _MarkerStream()
    answer = None
    with closing(answer_events):
        for event in answer_events:
            if isinstance(event, Status) and event.step in _STEPS:
                yield _frame("stepping", {"type": _STEPS[event.step]})
            elif isinstance(event, Retrieved):
                yield _frame("retrievals", {"contents": _streamed_contents(service, event, include_text)})
            elif isinstance(event, Delta) and plan.schema is None:
                piece = markers.feed(event.text)
                if piece:
                    yield _frame("message_delta", {"delta": piece})
            elif isinstance(event, Answer):
                answer = event
    assert answer is not None
    with session_scope(service.write_sessions) as session:
        contextual.set_message_id(session, answer.agent_response_id, message_id)
    message = _message(plan, answer.payload)
    rest = markers.finish() if plan.schema is None else message.content
    if rest:
        yield _frame("message_delta", {"delta": rest})
    if message.attributions is not None:
        attributions: dict[str, Any] = {"attributions": message.attributions}
        if message.groundedness_scores is not None:
            attributions["groundedness_scores"] = message.groundedness_scores
        yield _frame("attributions", attributions)
    yield _frame("message_complete", {"final_message": message.content})


def _frame(event: str, data: dict[str, Any]) -> str:
    return f"data: {json.dumps({'event': event, 'data': data}, ensure_ascii=False)}\n\n"
