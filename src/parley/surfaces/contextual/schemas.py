"""Request bodies of the Contextual AI surface, as the ``contextual-client`` SDK sends them.

Configuration objects accept unknown keys (``extra="allow"``) and keep them: Contextual adds
options over time and official notebooks already send some the SDK does not type
(``generate_response_config.model``). Metadata filters stay raw dicts here and are validated
by ``parley.search.filters.parse_filter`` in the service, which answers 400 with the path of
the bad part.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_TEXT = 20_000
MAX_PROMPT = 100_000
NO_NUL = r"^[^\x00]*$"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]
Prompt = Annotated[str, StringConstraints(max_length=MAX_PROMPT, pattern=NO_NUL)]
PublicId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
RawFilter = dict[str, Any]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- datastores -------------------------------------------------------------------------------------


class ChunkingConfiguration(_Open):
    chunking_mode: Literal["hierarchy_depth", "hierarchy_heading", "static_length", "page_level"] | None = (
        None
    )
    enable_hierarchy_based_contextualization: bool | None = None
    max_chunk_length_tokens: int | None = Field(default=None, ge=1)
    min_chunk_length_tokens: int | None = Field(default=None, ge=1)


class ParseConfiguration(_Open):
    enable_split_tables: bool | None = None
    figure_caption_mode: Literal["default", "custom", "ignore"] | None = None
    figure_captioning_prompt: Prompt | None = None
    max_split_table_cells: int | None = Field(default=None, ge=1)


class HtmlConfiguration(_Open):
    max_chunk_length_tokens: int | None = Field(default=None, ge=1)


class DatastoreConfiguration(_Open):
    """UnstructuredDatastoreConfig: kept and returned; Parley's own chunker does the work."""

    chunking: ChunkingConfiguration | None = None
    html_config: HtmlConfiguration | None = None
    parsing: ParseConfiguration | None = None


class DatastoreBody(BaseModel):
    name: Name
    configuration: DatastoreConfiguration | None = None


class DatastoreUpdateBody(BaseModel):
    # Omitted fields keep their value.
    name: Name = Field(default=None)
    configuration: DatastoreConfiguration | None = None


# -- documents --------------------------------------------------------------------------------------

MetadataValue = str | bool | int | float | list[str | bool | int | float]


class FieldConfig(_Open):
    filterable: bool | None = None
    in_chunks: bool | None = None
    returned_in_response: bool | None = None


class DocumentMetadataBody(BaseModel):
    """The ``metadata`` form field of an ingest (a JSON string) and the set_metadata body."""

    custom_metadata: dict[str, MetadataValue] | None = None
    custom_metadata_config: dict[str, FieldConfig] | None = None


# -- agents -----------------------------------------------------------------------------------------


class GlobalConfig(_Open):
    enable_filter: bool | None = None
    enable_multi_turn: bool | None = None
    enable_rerank: bool | None = None
    should_check_retrieval_need: bool | None = None


class RetrievalConfig(_Open):
    lexical_alpha: float | None = Field(default=None, ge=0, le=1)
    semantic_alpha: float | None = Field(default=None, ge=0, le=1)
    top_k_retrieved_chunks: int | None = Field(default=None, ge=1, le=1000)


class FilterAndRerankConfig(_Open):
    default_metadata_filters: RawFilter | None = None
    # Datastore id -> composite filter, applied to that datastore's documents.
    per_datastore_metadata_filters: dict[str, RawFilter] | None = None
    rerank_instructions: Prompt | None = None
    reranker_score_filter_threshold: float | None = Field(default=None, ge=0, le=1)
    top_k_reranked_chunks: int | None = Field(default=None, ge=1, le=1000)


class GenerateResponseConfig(_Open):
    avoid_commentary: bool | None = None
    calculate_groundedness: bool | None = None
    frequency_penalty: float | None = None
    max_new_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)


class AgentConfigs(_Open):
    acl_config: dict[str, Any] | None = None
    filter_and_rerank_config: FilterAndRerankConfig | None = None
    generate_response_config: GenerateResponseConfig | None = None
    global_config: GlobalConfig | None = None
    reformulation_config: dict[str, Any] | None = None
    retrieval_config: RetrievalConfig | None = None
    translation_config: dict[str, Any] | None = None


class AgentUpdateBody(BaseModel):
    """PUT /agents/{id}: a partial update; omitted fields stay as they are."""

    name: Name = Field(default=None)
    description: Prompt | None = None
    datastore_ids: list[PublicId] | None = Field(default=None, max_length=100)
    system_prompt: Prompt | None = None
    multiturn_system_prompt: Prompt | None = None
    no_retrieval_system_prompt: Prompt | None = None
    filter_prompt: Prompt | None = None
    suggested_queries: list[Annotated[str, StringConstraints(max_length=1000)]] | None = Field(
        default=None, max_length=100
    )
    agent_configs: AgentConfigs | None = None


class AgentBody(AgentUpdateBody):
    name: Name
    template_name: Annotated[str, StringConstraints(max_length=200)] | None = None


# -- query ------------------------------------------------------------------------------------------


class Message(BaseModel):
    role: Literal["user", "system", "assistant", "knowledge"]
    content: Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    custom_tags: list[str] | None = None


class StructuredOutput(BaseModel):
    json_schema: dict[str, Any]
    type: Literal["JSON"] = "JSON"


class OverrideConfiguration(_Open):
    top_k_retrieved_chunks: int | None = Field(default=None, ge=1, le=1000)
    top_k_reranked_chunks: int | None = Field(default=None, ge=1, le=1000)


class QueryBody(BaseModel):
    messages: list[Message] = Field(min_length=1, max_length=200)
    conversation_id: PublicId | None = None
    stream: bool = False
    documents_filters: RawFilter | None = None
    llm_model_id: Annotated[str, StringConstraints(max_length=500)] | None = None
    structured_output: StructuredOutput | None = None
    override_configuration: OverrideConfiguration | None = None


class FeedbackBody(BaseModel):
    feedback: Literal["thumbs_up", "thumbs_down", "flagged", "removed"]
    message_id: PublicId
    content_id: PublicId | None = None
    explanation: Annotated[str, StringConstraints(max_length=MAX_TEXT, pattern=NO_NUL)] | None = None
