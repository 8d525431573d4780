"""The answer path: an agent answers a question from its corpora, with citations, groundedness
and follow-up questions, and every answer and model call is recorded.

    prepare  (read transaction)  agent, thread, history, corpora, LLM config
    rewrite  (model call)        a standalone search query when the thread has history
    retrieve (read transaction)  hybrid search over the agent's enabled corpora, as the caller
    tools    (HTTP calls)        the agent's API tools: offline, those whose keywords the question
                                 has; a chat model that calls functions is offered them and asks
                                 (bounded rounds); each result is a numbered source
    generate (model call)        the offline extractive answerer, or a chat model over a prompt
                                 with numbered sources; streamed as text deltas
    assess                       citations → references, attributions, groundedness per sentence
    follow up (model call)       two or three questions the sources can answer
    record   (write transaction) the thread (created when the request named none), the agent
                                 response row and one usage record per model and tool call

No transaction is open while a model runs, so a slow model never holds SQLite's write lock.
A failed model call is recorded (status, error, payload) and nothing else is written.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from parley.access.principal import Principal
from parley.agents import service as agents
from parley.agents.models import Agent, AgentInstruction, AgentType
from parley.answers.citations import parse_citations
from parley.answers.extractive import NOT_FOUND_ANSWER, answer_extractively
from parley.answers.followups import suggest_followups
from parley.answers.grounding import assess_grounding
from parley.answers.prose import strip_footnote_markers
from parley.answers.sources import Source, sources_from_hits
from parley.corpora.models import AgentCorpus
from parley.db.engine import session_scope
from parley.embeddings.base import Embedder, EmbeddingError
from parley.embeddings.openai_compat import OpenAICompatibleEmbedder
from parley.embeddings.org_config import OrgEmbedder
from parley.errors import InvalidInputError, NotFoundError
from parley.llm import service as llm_configs
from parley.llm.base import ChatMessage, ChatModel, Completion, LLMCallError, ToolCall, ToolCallingChatModel
from parley.llm.factory import chat_model_for
from parley.llm.models import LLMConfig
from parley.llm.openai_compat import approximate_prompt_tokens, approximate_tokens
from parley.responses.models import AgentResponse
from parley.search.service import Filter, SearchOptions, hybrid_search
from parley.search.vector import VectorCache
from parley.settings import Settings
from parley.threads import service as threads
from parley.threads.models import ChatThread, ChatThreadCorpus
from parley.tools import runtime as tool_runtime
from parley.tools.runtime import ApiTool, ToolCallError, ToolResult
from parley.usage import service as usage

HISTORY_TURNS = 5
MAX_TITLE = 100
# Query sources of test consoles; their usage counts as developer activity.
TEST_SOURCES = frozenset({"playground", "test"})
FOLLOWUP_COUNT = 3
# Tool calls per answer, rounds of a model's calls, and the text one result contributes.
MAX_TOOL_CALLS = 8
MAX_TOOL_ROUNDS = 3
MAX_TOOL_TEXT = 4000
TOOL_RULE = (
    "You may call the tools to look up what the sources lack. Each tool result is numbered like a "
    "source: cite it the same way."
)
_PRONOUNS = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her|there)\b", re.I)
# "And for trips abroad?", "What about Tokyo?": a question that opens like this continues the last one.
_FOLLOW_UP_OPENING = re.compile(r"^\s*(?:and|also|but|or|then|what about|how about|same for)\b", re.I)


@dataclass(frozen=True)
class Turn:
    user: str
    bot: str


@dataclass(frozen=True)
class Question:
    """What a client asks, whichever surface it came through."""

    text: str
    chat_thread_id: int | None = None
    history: tuple[Turn, ...] | None = None  # None: take the thread's own history
    corpus_ids: tuple[int, ...] | None = None  # overrides.corpus_ids: narrow the search
    query_source: str = "web"
    suggest_followups: bool = True
    filters: Filter | None = None  # metadata filter (Contextual AI grammar), inside the search
    top_k: int | None = None  # chunks to retrieve; None: the agent's chunk_count
    llm_config_id: int | None = None  # another active config of the organisation, for this question
    language: str | None = None  # ISO code of the reply language the client asked for
    channel_user_id: str = ""  # the end user's id on the client's own channel, for the usage log


@dataclass
class _Call:
    """One model call, recorded in the usage log when the answer is written."""

    prompt_name: str
    feature_name: str
    model_name: str
    started: datetime
    ended: datetime
    completion: Completion | None
    error: LLMCallError | None = None
    request_payload: dict = field(default_factory=dict)
    # Embedding calls go to the organisation's embedder, not the agent's LLM config.
    uses_llm_config: bool = True

    @property
    def prompt_tokens(self) -> int:
        return self.completion.prompt_tokens if self.completion else 0

    @property
    def completion_tokens(self) -> int:
        return self.completion.completion_tokens if self.completion else 0


@dataclass
class _ToolUse:
    """One tool call, recorded in the usage log with the answer; ``source_number`` is the
    numbered source its result became (None when it failed or said nothing)."""

    name: str
    arguments: dict[str, Any]
    started: datetime
    ended: datetime
    outcome: ToolResult | ToolCallError
    source_number: int | None = None


@dataclass
class _Run:
    """What an answer has done so far: enough to record it finished, failed or cancelled."""

    query: str
    calls: list[_Call] = field(default_factory=list)
    tool_uses: list[_ToolUse] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    deltas: list[str] = field(default_factory=list)  # the text sent so far
    retrieval_ms: float = 0.0
    embedder: Embedder | None = None
    text: str = ""
    followups: list[str] = field(default_factory=list)


@dataclass
class _Prepared:
    principal: Principal
    agent_id: int
    agent_mode: str
    project_id: int | None
    prefix_prompt: str
    instructions: list[str]
    top_k: int
    corpus_ids: list[int]
    thread_id: int | None
    thread_title: str | None
    history: list[Turn]
    config: LLMConfig | None
    api_key: str | None
    question: Question
    # The agent's owner asking, or a test console: Kore's "developer" interactions.
    is_developer: bool
    started: float  # perf_counter() when preparing began: timings cover the whole path
    # The organisation's embedder, or why it cannot be built (a failed call once the answer runs).
    embedder: Embedder | EmbeddingError
    tools: list[ApiTool] = field(default_factory=list)  # none while outbound calls are off


@dataclass
class Retrieval:
    """What retrieval alone needs (``prepare_retrieval``): no model settings, tools, instructions
    or history, which only an answer uses."""

    principal: Principal
    question: Question
    corpus_ids: list[int]
    top_k: int
    embedder: Embedder


@dataclass(frozen=True)
class Status:
    step: str
    message: str


@dataclass(frozen=True)
class Retrieved:
    """The numbered sources the answer will draw on, known before any text is generated."""

    sources: list[Source]


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass
class Answer:
    """The finished answer: the Ejento AnswerPayload plus the stored row's id."""

    payload: dict[str, Any]
    agent_response_id: int
    thread_id: int


Event = Status | Retrieved | Delta | Answer


class AnswerService:
    """Shared by every surface that answers (Ejento, Contextual AI, SuperOffice)."""

    def __init__(
        self,
        settings: Settings,
        read_sessions: sessionmaker[Session],
        write_sessions: sessionmaker[Session],
        embedder: Callable[[Session, int], OrgEmbedder],
        vector_cache: VectorCache,
    ) -> None:
        self.settings = settings
        self.read_sessions = read_sessions
        self.write_sessions = write_sessions
        self.embedder = embedder
        self.vector_cache = vector_cache

    # -- public ------------------------------------------------------------------------------

    def prepare(self, principal: Principal, agent_id: int, question: Question) -> _Prepared:
        """Everything the answer needs from the database; raises (404/400) before any model runs."""
        started = time.perf_counter()
        with session_scope(self.read_sessions) as session:
            agent, thread = _agent_and_thread(session, principal, agent_id, question)
            history = (
                list(question.history) if question.history is not None else _thread_history(session, thread)
            )
            config = (
                llm_configs.usable_config(session, agent.org_id, question.llm_config_id)
                if question.llm_config_id is not None
                else llm_configs.resolve_for_agent(session, agent)
            )
            api_key = llm_configs.api_key_for(config, self.settings) if config is not None else None
            try:
                embedder: Embedder | EmbeddingError = self.embedder(session, principal.org_id).embedder
            except EmbeddingError as exc:
                embedder = exc
            return _Prepared(
                principal=principal,
                agent_id=agent.id,
                agent_mode=_agent_mode(session, agent),
                project_id=agent.project_id,
                prefix_prompt=agent.prefix_prompt or "",
                instructions=_instructions(session, agent),
                top_k=_chunk_count(agent),
                corpus_ids=_searchable_corpora(session, agent, thread, question.corpus_ids),
                thread_id=thread.id if thread else None,
                thread_title=thread.title if thread else None,
                history=history[-HISTORY_TURNS:],
                config=config,
                api_key=api_key,
                question=question,
                is_developer=agent.user_id == principal.user_id or question.query_source in TEST_SOURCES,
                tools=tool_runtime.tools_for_agent(session, agent.id)
                if self.settings.tools.allow_outbound_calls
                else [],
                started=started,
                embedder=embedder,
            )

    def answer(self, prepared: _Prepared) -> Generator[Event, None, None]:
        """Run the answer path, yielding progress, text deltas and finally the :class:`Answer`.

        A model failure is recorded and re-raised as :class:`LLMCallError`. Closing the iterator
        before the Answer (the client went away) stops the model's stream and records the answer
        so far as a ``cancelled`` response, with the usage of every model call made."""
        run = _Run(query=prepared.question.text)
        try:
            with closing(self._generate(prepared, run)) as events:
                for event in events:
                    if isinstance(event, Delta):
                        run.deltas.append(event.text)
                    yield event
        except GeneratorExit:
            text = "".join(run.deltas)
            self._record(prepared, run, text, _references_only(text, run.sources), [], status="cancelled")
            raise
        except Exception:
            # Whatever failed, the calls already made were paid for: keep their usage records.
            if run.calls or run.tool_uses:
                self._record_failure(prepared, run.calls, run.tool_uses)
            raise
        assert run.embedder is not None
        assessment = _assess(run.text, run.sources, run.embedder)
        answer = self._record(prepared, run, run.text, assessment, run.followups, status="completed")
        yield answer

    def _generate(self, prepared: _Prepared, run: _Run) -> Iterator[Event]:
        """Every stage up to the follow-up questions, keeping what each produced in ``run``."""
        model = self._chat_model(prepared.config, prepared.api_key)
        yield Status("query_rewrite_start", "Processing query...")
        run.query = self._rewrite(prepared, model, run.calls)
        retrieval_started = time.perf_counter()
        run.embedder = self._org_embedder(prepared, run.calls)
        query_vector = self._embed_query(run.embedder, run.query, run.calls)
        run.sources = self._search(prepared, run.query, query_vector)
        run.retrieval_ms = (time.perf_counter() - retrieval_started) * 1000
        if model is None:
            run.sources += yield from self._offline_tools(prepared, len(run.sources), run.tool_uses)
        yield Retrieved(run.sources)
        yield Status("assistant_start", "Preparing response...")
        if model is None:
            run.text = yield from self._answer_offline(
                prepared.question.text, run.sources, run.embedder, query_vector, run.calls
            )
        else:
            run.text = yield from self._answer_with_model(
                prepared, model, run.sources, run.calls, run.tool_uses
            )
        run.followups = self._followups(prepared, model, run.text, run.sources, run.calls)

    def prepare_retrieval(
        self, session: Session, principal: Principal, agent_id: int, question: Question
    ) -> Retrieval:
        """``prepare`` for retrieval alone, in the caller's read transaction: the same checks of
        the agent and the thread, the same corpora, and the organisation's embedder."""
        agent, thread = _agent_and_thread(session, principal, agent_id, question)
        started = _now()
        try:
            embedder = self.embedder(session, principal.org_id).embedder
        except EmbeddingError as exc:
            # Retrieval alone is not an answer: the failed call is not recorded.
            raise _embedding_failure(exc, "", {}, started, []) from exc
        return Retrieval(
            principal=principal,
            question=question,
            corpus_ids=_searchable_corpora(session, agent, thread, question.corpus_ids),
            top_k=_chunk_count(agent),
            embedder=embedder,
        )

    def retrieve(self, retrieval: Retrieval) -> list[Source]:
        """Retrieval only (no rewrite, no model): what the agent would answer from."""
        query = retrieval.question.text.strip()
        calls: list[_Call] = []  # retrieval alone is not an answer: nothing is recorded
        return self._search(retrieval, query, self._embed_query(retrieval.embedder, query, calls))

    # -- steps -------------------------------------------------------------------------------

    def _org_embedder(self, prepared: _Prepared, calls: list[_Call]) -> Embedder:
        """The organisation's embedder (the one that wrote its searchable vectors), read by
        ``prepare``; when it could not be built, a failed call."""
        if isinstance(prepared.embedder, EmbeddingError):
            raise _embedding_failure(prepared.embedder, "", {}, _now(), calls) from prepared.embedder
        return prepared.embedder

    def _embed_query(self, embedder: Embedder, query: str, calls: list[_Call]) -> Any:
        """The query's vector; a remote embedding endpoint's call goes to the usage log, and its
        failure is a failed model call (502)."""
        started = _now()
        try:
            vector = embedder.embed_query(query)
        except EmbeddingError as exc:
            payload = {"model": embedder.model_name, "input": [query]}
            raise _embedding_failure(exc, embedder.model_name, payload, started, calls) from exc
        if isinstance(embedder, OpenAICompatibleEmbedder):
            tokens = embedder.count_tokens(query)
            completion = Completion(
                text="",
                prompt_tokens=tokens,
                completion_tokens=0,
                model=embedder.model_name,
                request_payload={"model": embedder.model_name, "input": [query]},
                response_payload={"dimension": int(vector.shape[0]), "usage": {"prompt_tokens": tokens}},
            )
            calls.append(
                _Call(
                    "query_embedding",
                    "embedding",
                    embedder.model_name,
                    started,
                    _now(),
                    completion,
                    uses_llm_config=False,
                )
            )
        return vector

    def _search(self, prepared: _Prepared | Retrieval, query: str, query_vector: Any) -> list[Source]:
        with session_scope(self.read_sessions) as session:
            hits = hybrid_search(
                session,
                self.vector_cache,
                query,
                query_vector,
                prepared.corpus_ids,
                prepared.question.filters,
                SearchOptions(top_k=prepared.question.top_k or prepared.top_k),
                principal=prepared.principal,
            )
        return sources_from_hits(hits)

    def _chat_model(self, config: LLMConfig | None, api_key: str | None) -> ChatModel | None:
        if config is None or config.provider == "offline":
            return None
        return chat_model_for(config, api_key)

    def _rewrite(self, prepared: _Prepared, model: ChatModel | None, calls: list[_Call]) -> str:
        """A standalone search query: the question itself without history; with history, the
        model rewrites it, or (offline) the last turn's words are added when the question leans
        on it (a pronoun, only a few words, or an opening like "and" or "what about")."""
        question = prepared.question.text.strip()
        if not prepared.history:
            return question
        if model is None:
            words = question.split()
            if len(words) <= 4 or _PRONOUNS.search(question) or _FOLLOW_UP_OPENING.match(question):
                return f"{question} {prepared.history[-1].user}".strip()
            return question
        messages = [
            ChatMessage(
                "system",
                "Rewrite the user's last question as one standalone search query, using the "
                "conversation for context. Reply with the query only.",
            ),
            *_history_messages(prepared.history),
            ChatMessage("user", question),
        ]
        completion = self._call(model, prepared.config, "query_rewrite", "query_rewrite", messages, 96, calls)
        rewritten = (
            completion.text.strip().strip('"').splitlines()[0].strip() if completion.text.strip() else ""
        )
        return rewritten or question

    def _answer_offline(
        self, question: str, sources: list[Source], embedder: Embedder, query_vector: Any, calls: list[_Call]
    ) -> Iterator[Event]:
        started = _now()
        extractive = answer_extractively(question, sources, embedder, query_vector=query_vector)
        completion = extractive.completion()
        calls.append(_Call("answer", "generation", completion.model, started, _now(), completion))
        for piece in re.findall(r"\S+\s*", completion.text):
            yield Delta(piece)
        return completion.text

    def _answer_with_model(
        self,
        prepared: _Prepared,
        model: ChatModel,
        sources: list[Source],
        calls: list[_Call],
        tool_uses: list[_ToolUse],
    ) -> Iterator[Event]:
        if prepared.tools and isinstance(model, ToolCallingChatModel):
            return (yield from self._answer_with_tools(prepared, model, sources, calls, tool_uses))
        if not sources:
            # Nothing to ground an answer in: say so rather than let the model invent one.
            yield Delta(NOT_FOUND_ANSWER)
            return NOT_FOUND_ANSWER
        messages = _answer_messages(prepared, sources)
        config = prepared.config
        assert config is not None
        started = _now()
        parts: list[str] = []
        stream = model.stream(messages, max_tokens=config.max_output_tokens, temperature=config.temperature)
        # Closed on the way out: when the listener goes away, the model stops generating.
        with closing(stream):
            try:
                for item in stream:
                    if isinstance(item, Completion):
                        calls.append(_Call("answer", "generation", item.model, started, _now(), item))
                        return item.text
                    parts.append(item)
                    yield Delta(item)
            except LLMCallError as exc:
                calls.append(_failed_call("answer", "generation", config, started, exc))
                raise
            except GeneratorExit:
                # No usage arrives from a stream cut short; what was sent is counted instead.
                cut = _cut_short(model.model_name, messages, "".join(parts))
                calls.append(_Call("answer", "generation", cut.model, started, _now(), cut))
                raise
        return "".join(parts)

    # -- tools -------------------------------------------------------------------------------

    def _offline_tools(
        self, prepared: _Prepared, numbered: int, tool_uses: list[_ToolUse]
    ) -> Generator[Event, None, list[Source]]:
        """Without a model: call each tool whose keywords the question has (announced by a
        status); the results that say something become sources numbered after the ``numbered``
        retrieved ones, and are returned."""
        found: list[Source] = []
        for item in prepared.tools:
            arguments = tool_runtime.offline_arguments(item, prepared.question.text)
            if arguments is not None and len(tool_uses) < MAX_TOOL_CALLS:
                yield _calling(item.tool.name)
                source = self._call_tool(item, arguments, numbered + len(found) + 1, tool_uses)
                found += [source] if source else []
        return found

    def _answer_with_tools(
        self,
        prepared: _Prepared,
        model: ToolCallingChatModel,
        sources: list[Source],
        calls: list[_Call],
        tool_uses: list[_ToolUse],
    ) -> Iterator[Event]:
        """The model is offered the agent's tools beside the numbered sources and answers, or
        asks for calls: they are made and their results (numbered sources, appended to
        ``sources``) go back to it, for at most MAX_TOOL_ROUNDS rounds; then it must answer.
        Each call is announced by a status before it is made, so a stream shows the rounds before
        the text. The answer arrives whole (the rounds are not streamed) and is passed on in
        word-sized deltas."""
        config = prepared.config
        assert config is not None
        offered = tool_runtime.function_specs(prepared.tools)
        messages = _answer_messages(prepared, sources)
        messages[0] = ChatMessage("system", f"{messages[0].content}\n\n{TOOL_RULE}")
        text = ""
        for round_number in range(MAX_TOOL_ROUNDS + 1):
            last = round_number == MAX_TOOL_ROUNDS or len(tool_uses) >= MAX_TOOL_CALLS
            started = _now()
            try:
                completion = model.complete_with_tools(
                    messages,
                    [spec for spec, _ in offered.values()],
                    max_tokens=config.max_output_tokens,
                    temperature=config.temperature,
                    tool_choice="none" if last else "auto",
                )
            except LLMCallError as exc:
                calls.append(_failed_call("answer", "generation", config, started, exc))
                raise
            calls.append(_Call("answer", "generation", completion.model, started, _now(), completion))
            text = completion.text
            if not completion.tool_calls or last:
                break
            messages.append(ChatMessage("assistant", text, tool_calls=tuple(completion.tool_calls)))
            for call in completion.tool_calls:
                yield _calling(offered[call.name][1].tool.name if call.name in offered else call.name)
                reply = self._model_tool_call(call, offered, sources, tool_uses)
                messages.append(ChatMessage("tool", reply, tool_call_id=call.id))
        text = text.strip() or NOT_FOUND_ANSWER
        for piece in re.findall(r"\S+\s*", text):
            yield Delta(piece)
        return text

    def _model_tool_call(
        self,
        call: ToolCall,
        offered: dict[str, tuple[Any, ApiTool]],
        sources: list[Source],
        tool_uses: list[_ToolUse],
    ) -> str:
        """Make one call a model asked for; returns what the model is told of it."""
        if len(tool_uses) >= MAX_TOOL_CALLS:
            return f"Not called: at most {MAX_TOOL_CALLS} tool calls per answer."
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            arguments = None
        item = offered[call.name][1] if call.name in offered else None
        if item is None or not isinstance(arguments, dict):
            problem = "names no tool offered" if item is None else "has arguments that are not a JSON object"
            error = ToolCallError(f"The call of {call.name!r} {problem}.", 400)
            tool_uses.append(_ToolUse(item.tool.name if item else call.name, {}, _now(), _now(), error))
            return f"Tool error: {error.message}"
        source = self._call_tool(item, arguments, len(sources) + 1, tool_uses)
        if source is not None:
            sources.append(source)
            return f"[{source.number}] {source.text}"
        outcome = tool_uses[-1].outcome
        if isinstance(outcome, ToolCallError):
            return f"Tool error: {outcome.message}"
        return f"The tool answered HTTP {outcome.status_code}: {outcome.body_text[:500]}"

    def _call_tool(
        self, item: ApiTool, arguments: dict[str, Any], number: int, tool_uses: list[_ToolUse]
    ) -> Source | None:
        """Call a tool (no transaction is open) and keep the call for the usage log; a result
        that succeeded and says something becomes source ``number``."""
        name = item.tool.name
        started = _now()
        outcome: ToolResult | ToolCallError
        try:
            outcome = tool_runtime.call_api_tool(item.template, arguments, self.settings)
        except ToolCallError as exc:
            outcome = exc
        use = _ToolUse(name, arguments, started, _now(), outcome)
        tool_uses.append(use)
        if isinstance(outcome, ToolCallError) or outcome.status_code >= 400:
            return None
        text = tool_runtime.result_text(outcome)[:MAX_TOOL_TEXT]
        if not text:
            return None
        use.source_number = number
        return Source(
            number=number,
            chunk_id=0,  # not a chunk: the data point names the tool instead
            document_id=0,
            corpus_id=0,
            document_name=name,
            url=outcome.request["url"],
            text=text,
            context=f"{name} (tool result)",
            page=None,
            char_start=0,
            char_end=len(text),
            score=0.0,
        )

    def _followups(
        self,
        prepared: _Prepared,
        model: ChatModel | None,
        answer: str,
        sources: list[Source],
        calls: list[_Call],
    ) -> list[str]:
        if not prepared.question.suggest_followups or not sources or answer == NOT_FOUND_ANSWER:
            return []
        if model is None:
            return suggest_followups(prepared.question.text, answer, sources)[:FOLLOWUP_COUNT]
        context = "\n".join(f"- {strip_footnote_markers(source.text)[:300]}" for source in sources[:4])
        messages = [
            ChatMessage(
                "system",
                f"Suggest {FOLLOWUP_COUNT} short follow-up questions the user could ask next that the "
                "given sources can answer. One question per line, no numbering.",
            ),
            ChatMessage(
                "user", f"Sources:\n{context}\n\nQuestion: {prepared.question.text}\nAnswer: {answer}"
            ),
        ]
        completion = self._call(
            model, prepared.config, "followup_questions", "followups", messages, 120, calls
        )
        lines = [re.sub(r"^\W*\d*[.)]?\s*", "", line).strip() for line in completion.text.splitlines()]
        return [line for line in lines if line.endswith("?")][:FOLLOWUP_COUNT]

    def _call(
        self,
        model: ChatModel,
        config: LLMConfig | None,
        prompt_name: str,
        feature_name: str,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        calls: list[_Call],
    ) -> Completion:
        assert config is not None
        started = _now()
        try:
            completion = model.complete(messages, max_tokens=max_tokens, temperature=config.temperature)
        except LLMCallError as exc:
            calls.append(_failed_call(prompt_name, feature_name, config, started, exc))
            raise
        calls.append(_Call(prompt_name, feature_name, completion.model, started, _now(), completion))
        return completion

    # -- records -----------------------------------------------------------------------------

    def _record(
        self,
        prepared: _Prepared,
        run: _Run,
        text: str,
        assessment: dict[str, Any],
        followups: list[str],
        *,
        status: str,
    ) -> Answer:
        """Writes the thread (when new), the response row and the usage records; the payload's
        timings also show the cost of writing them (the stored ones cannot)."""
        principal, question = prepared.principal, prepared.question
        query, sources, calls, tool_uses = run.query, run.sources, run.calls, run.tool_uses
        total_ms = (time.perf_counter() - prepared.started) * 1000
        model_ms = sum((c.ended - c.started).total_seconds() * 1000 for c in calls)
        timings = {
            "retrieval_ms": round(run.retrieval_ms, 1),
            "model_ms": round(model_ms, 1),
            "total_ms": round(total_ms, 1),
            "overhead_ms": round(total_ms - model_ms, 1),
        }
        costs = [
            usage.price(prepared.config if c.uses_llm_config else None, c.prompt_tokens, c.completion_tokens)
            for c in calls
        ]
        prompt_tokens = sum(c.prompt_tokens for c in calls)
        completion_tokens = sum(c.completion_tokens for c in calls)
        run_id = str(uuid.uuid4())
        tools = {use.source_number: use.name for use in tool_uses if use.source_number is not None}
        with session_scope(self.write_sessions) as session:
            thread = self._thread_for_answer(session, prepared)
            payload = {
                "answer": text,
                "sources": "".join(f"[{r['number']}]" for r in assessment["references"]),
                "followup_questions": followups,
                "indexes": [r["number"] for r in assessment["references"]],
                "query": query,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cache_hit": False,
                "history": [{"user": t.user, "bot": t.bot} for t in prepared.history],
                "prompt_prefix": prepared.prefix_prompt,
                "instructions": prepared.instructions,
                "agent_mode": prepared.agent_mode,
                "references": assessment["references"],
                "success": True,
                "corpus_ids": prepared.corpus_ids,
                "run_id": run_id,
                "chat_thread_name": thread.title,
                "thread_id": thread.id,
                "data_points": [_data_point(source, tools) for source in sources],
                "thoughts": f"Searched {len(prepared.corpus_ids)} corpora for: {query}",
                "attributions": assessment["attributions"],
                "groundedness_scores": assessment["groundedness_scores"],
                "groundedness": assessment["groundedness"],
                "model": calls[-1].model_name if calls else "",
                "timings": timings,
            }
            row = AgentResponse(
                org_id=principal.org_id,
                agent_id=prepared.agent_id,
                project_id=prepared.project_id,
                chat_thread_id=thread.id,
                user_id=principal.user_id,
                llm_config_id=prepared.config.id if prepared.config else None,
                question=question.text,
                response=payload,
                run_id=run_id,
                total_tokens=prompt_tokens + completion_tokens,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                query_source=question.query_source,
                cost=sum(costs, Decimal(0)),
                latency_ms=int(timings["total_ms"]),
                groundedness=assessment["groundedness"],
                created_by=principal.email,
                status=status,
            )
            session.add(row)
            session.flush()
            payload["agent_response_id"] = row.id
            row.response = dict(payload)
            for call in calls:
                self._usage_row(session, prepared, call, row.id, thread.id, run_id)
            self._tool_rows(session, prepared, tool_uses, row.id, thread.id, run_id)
        record_ms = (time.perf_counter() - prepared.started) * 1000 - total_ms
        payload["timings"] = {
            **timings,
            "record_ms": round(record_ms, 1),
            "overhead_ms": round(timings["overhead_ms"] + record_ms, 1),
        }
        return Answer(payload=payload, agent_response_id=row.id, thread_id=thread.id)

    def _thread_for_answer(self, session: Session, prepared: _Prepared) -> ChatThread:
        """The request's thread (re-checked: it may have been deleted meanwhile), or a new one
        titled by the question; a default-titled thread takes the question as its title."""
        principal, question = prepared.principal, prepared.question
        title = question.text.strip().splitlines()[0][:MAX_TITLE]
        if prepared.thread_id is None:
            return threads.create_thread(
                session, principal, prepared.agent_id, title=title, query_source=question.query_source
            )
        thread = threads.get_own_thread(session, principal, prepared.thread_id)
        if thread.title == threads.DEFAULT_TITLE:
            thread.title = title
        thread.modified_on = _now()
        return thread

    def _usage_row(
        self,
        session: Session,
        prepared: _Prepared,
        call: _Call,
        response_id: int | None,
        thread_id: int | None,
        run_id: str,
    ) -> None:
        completion, error = call.completion, call.error
        usage.record_call(
            session,
            org_id=prepared.principal.org_id,
            user_id=prepared.principal.user_id,
            agent_id=prepared.agent_id,
            llm_config=prepared.config if call.uses_llm_config else None,
            integration="" if call.uses_llm_config else "openai-embeddings",
            prompt_name=call.prompt_name,
            feature_name=call.feature_name,
            model_name=call.model_name,
            channel=prepared.question.query_source,
            started=call.started,
            ended=call.ended,
            status_code=(error.upstream_status or error.status_code) if error else 200,
            error=error.message if error else "",
            request_payload=completion.request_payload if completion else call.request_payload,
            response_payload=completion.response_payload if completion else {},
            request_tokens=call.prompt_tokens,
            response_tokens=call.completion_tokens,
            agent_response_id=response_id,
            task_id=run_id,
            description=f"{call.feature_name} for agent {prepared.agent_id}",
            session_id=str(thread_id or ""),
            channel_user_id=prepared.question.channel_user_id,
            is_developer=prepared.is_developer,
        )

    def _tool_rows(
        self,
        session: Session,
        prepared: _Prepared,
        uses: list[_ToolUse],
        response_id: int | None,
        thread_id: int | None,
        run_id: str,
    ) -> None:
        for use in uses:
            tool_runtime.record_tool_call(
                session,
                org_id=prepared.principal.org_id,
                user_id=prepared.principal.user_id,
                agent_id=prepared.agent_id,
                tool_name=use.name,
                arguments=use.arguments,
                started=use.started,
                ended=use.ended,
                outcome=use.outcome,
                channel=prepared.question.query_source,
                agent_response_id=response_id,
                task_id=run_id,
                session_id=str(thread_id or ""),
                channel_user_id=prepared.question.channel_user_id,
                is_developer=prepared.is_developer,
            )

    def _record_failure(self, prepared: _Prepared, calls: list[_Call], tool_uses: list[_ToolUse]) -> None:
        """Keep the usage records of a failed answer (the failed calls included); nothing else."""
        run_id = str(uuid.uuid4())
        with session_scope(self.write_sessions) as session:
            for call in calls:
                self._usage_row(session, prepared, call, None, prepared.thread_id, run_id)
            self._tool_rows(session, prepared, tool_uses, None, prepared.thread_id, run_id)


# -- helpers -----------------------------------------------------------------------------------


def _calling(name: str) -> Status:
    """The status a stream shows while a tool is called (Ejento: ``event: status``)."""
    return Status("tool_call_start", f"Calling tool {name}")


def _now() -> datetime:
    return datetime.now(UTC)


def _embedding_failure(
    exc: EmbeddingError, model_name: str, payload: dict, started: datetime, calls: list[_Call]
) -> LLMCallError:
    """The query embedding's failure as a failed model call, kept in ``calls`` for the usage log."""
    error = LLMCallError(f"The embedding model failed: {exc.message}", request_payload=payload)
    calls.append(
        _Call(
            "query_embedding",
            "embedding",
            model_name,
            started,
            _now(),
            None,
            error=error,
            request_payload=payload,
            uses_llm_config=False,
        )
    )
    return error


def _failed_call(
    prompt_name: str, feature_name: str, config: LLMConfig, started: datetime, exc: LLMCallError
) -> _Call:
    return _Call(
        prompt_name,
        feature_name,
        config.deployment_name or config.model,
        started,
        _now(),
        None,
        error=exc,
        request_payload=exc.request_payload,
    )


def _agent_and_thread(
    session: Session, principal: Principal, agent_id: int, question: Question
) -> tuple[Agent, ChatThread | None]:
    """The agent and the question's thread, checked (404/400) before anything runs."""
    if not question.text.strip():
        raise InvalidInputError("The question cannot be empty.")
    texts = [question.text, question.channel_user_id, *(t.user + t.bot for t in question.history or ())]
    if any("\x00" in text for text in texts):
        # PostgreSQL cannot store NUL in text: refused now, not when the answer is written.
        raise InvalidInputError("The question and its history cannot contain NUL characters.")
    agent = agents.get_agent(session, principal, agent_id)
    thread = None
    if question.chat_thread_id is not None:
        thread = threads.get_own_thread(session, principal, question.chat_thread_id)
        if thread.agent_id != agent.id:
            raise NotFoundError("Chat Thread")
    return agent, thread


def _chunk_count(agent: Agent) -> int:
    return max(1, min(agent.chunk_count or 5, 20))


def _agent_mode(session: Session, agent: Agent) -> str:
    return session.scalar(select(AgentType.name).where(AgentType.id == agent.agent_type_id)) or "QnA"


def _instructions(session: Session, agent: Agent) -> list[str]:
    return list(
        session.scalars(
            select(AgentInstruction.instruction)
            .where(AgentInstruction.agent_id == agent.id, AgentInstruction.is_deleted.is_(False))
            .order_by(AgentInstruction.id)
        )
    )


def _searchable_corpora(
    session: Session, agent: Agent, thread: ChatThread | None, wanted: Sequence[int] | None
) -> list[int]:
    """The agent's enabled corpora plus the thread's attachment corpora; ``overrides.corpus_ids``
    narrows that set (it never widens it). The caller's read permission is checked again by the
    search itself."""
    linked = set(
        session.scalars(
            select(AgentCorpus.corpus_id).where(
                AgentCorpus.agent_id == agent.id,
                AgentCorpus.is_enabled.is_(True),
                AgentCorpus.is_deleted.is_(False),
            )
        )
    )
    if thread is not None:
        linked |= set(
            session.scalars(
                select(ChatThreadCorpus.corpus_id).where(
                    ChatThreadCorpus.chat_thread_id == thread.id, ChatThreadCorpus.is_deleted.is_(False)
                )
            )
        )
    if wanted is not None:
        linked &= set(wanted)
    return sorted(linked)


def _thread_history(session: Session, thread: ChatThread | None) -> list[Turn]:
    if thread is None:
        return []
    rows = session.execute(
        select(AgentResponse.question, AgentResponse.response)
        .where(AgentResponse.chat_thread_id == thread.id, AgentResponse.is_deleted.is_(False))
        .order_by(AgentResponse.id.desc())
        .limit(HISTORY_TURNS)
    ).all()
    return [Turn(question, str((response or {}).get("answer", ""))) for question, response in reversed(rows)]


def _history_messages(history: Sequence[Turn]) -> list[ChatMessage]:
    messages: list[ChatMessage] = []
    for turn in history:
        messages.append(ChatMessage("user", turn.user))
        if turn.bot:
            messages.append(ChatMessage("assistant", turn.bot))
    return messages


def _answer_messages(prepared: _Prepared, sources: list[Source]) -> list[ChatMessage]:
    """System rules (the agent's prefix prompt and instructions first), the recent turns, then
    the numbered sources and the question, cut to fit the model's context window."""
    config = prepared.config
    assert config is not None
    rules = [
        prepared.prefix_prompt.strip(),
        *[i.strip() for i in prepared.instructions if i.strip()],
        "Answer the question using only the numbered sources below. After each sentence, cite the "
        "sources it comes from as [1], [2]. If the sources do not contain the answer, reply exactly: "
        f'"{NOT_FOUND_ANSWER}" Do not use outside knowledge. Be concise.',
    ]
    if prepared.question.language:
        rules.append(f"Write the answer in the language whose ISO code is {prepared.question.language!r}.")
    system = ChatMessage("system", "\n\n".join(r for r in rules if r))
    history = _history_messages(prepared.history)
    # ~4 characters per token: keep room for the answer, then drop the oldest turns and the
    # lowest-ranked sources until the prompt fits.
    budget = max(256, config.context_window - config.max_output_tokens) * 4
    shown = list(sources)

    def user_message() -> ChatMessage:
        # A source's own footnote markers ("a hen.[3][4]") are left out: copied into the answer,
        # they would read as citations of Parley's numbered sources.
        listing = "\n\n".join(
            f"[{s.number}] {s.context or s.document_name}"
            + (f" (page {s.page})" if s.page else "")
            + f"\n{strip_footnote_markers(s.text)}"
            for s in shown
        )
        return ChatMessage("user", f"Sources:\n{listing}\n\nQuestion: {prepared.question.text}")

    def size() -> int:
        return len(system.content) + sum(len(m.content) for m in history) + len(user_message().content)

    while size() > budget and history:
        history = history[2:] if len(history) > 1 else []
    while size() > budget and len(shown) > 1:
        shown.pop()
    return [system, *history, user_message()]


def _data_point(source: Source, tools: dict[int, str]) -> dict[str, Any]:
    """A source as stored with the answer; a tool's result names the tool too."""
    return {
        "number": source.number,
        "chunk_id": source.chunk_id,
        "document_id": source.document_id,
        "corpus_id": source.corpus_id,
        "document_name": source.document_name,
        "url": source.url,
        "page": source.page,
        "content": source.text,
        "score": round(source.score, 6),
        **({"tool": tools[source.number]} if source.number in tools else {}),
    }


def _cut_short(model_name: str, messages: Sequence[ChatMessage], text: str) -> Completion:
    """A model stream closed before its end: the tokens are estimated from the text, and the
    usage log's response payload says so."""
    prompt_tokens, completion_tokens = approximate_prompt_tokens(messages), approximate_tokens(text)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "estimated": True}
    return Completion(
        text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        model=model_name,
        finish_reason="cancelled",
        response_payload={"model": model_name, "text": text, "finish_reason": "cancelled", "usage": usage},
    )


def _references_only(text: str, sources: list[Source]) -> dict[str, Any]:
    """The references of a cancelled answer; groundedness, which needs the whole text, is not
    scored."""
    references = parse_citations(text, sources).references()
    return {
        "references": [reference.as_dict() for reference in references],
        "attributions": [],
        "groundedness_scores": [],
        "groundedness": None,
    }


def _assess(text: str, sources: list[Source], embedder: Embedder) -> dict[str, Any]:
    """References in order of citation, attributions and per-sentence groundedness. Saying that
    nothing was found claims nothing, so it is not scored."""
    citations = parse_citations(text, sources)
    if text == NOT_FOUND_ANSWER:
        return {"references": [], "attributions": [], "groundedness_scores": [], "groundedness": None}
    grounding = assess_grounding(text, sources, embedder)
    return {
        "references": [reference.as_dict() for reference in citations.references()],
        "attributions": grounding.attributions_payload(),
        # The score itself, not Contextual's 0/1: Ejento clients can show how well supported.
        "groundedness_scores": [
            {"start_idx": s.start, "end_idx": s.end, "score": round(s.score, 4), "supported": s.supported}
            for s in grounding.sentences
        ],
        "groundedness": round(grounding.mean_score, 4),
    }
