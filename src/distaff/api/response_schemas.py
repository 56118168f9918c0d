"""Response bodies, as `/openapi.json` publishes them: errors, assistants, threads and their
state, runs, crons, store items (the protocol surfaces' are in `protocol_schemas.py`; `/ok`,
`/info` and `/metrics` keep theirs next to their routes).

The routes build their JSON themselves (`responses.JSON`) and name these models in
`responses={200: {"model": ...}}`. FastAPI then publishes the schema and leaves the answer
alone: a `response_model` would validate and re-serialise every answer (CPU on the hot paths)
and drop the keys a model does not list. No answer is ever built from these models.

The schemas describe what is sent, checked against real answers by `tests/test_fuzz.py`: a key
that is always there is required even when it may be null; a key that is sometimes left out is
optional (`absent()`); graph state, metadata and config are the caller's own, any JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from distaff.models import Json, MultitaskStrategy, RunStatus, ThreadStatus


def absent(description: str | None = None) -> Any:
    """A key an answer may leave out (never null when it is there). A default factory, not a
    default, so the schema shows no `default` the server would never send."""
    return Field(default_factory=lambda: None, description=description)


def _every_key_optional(schema: JsonDict) -> None:
    schema.pop("required", None)


#: The config of a `Selected*` model: a search or list with `select` sends only those keys.
SELECTABLE = ConfigDict(json_schema_extra=_every_key_optional)


class ErrorBody(BaseModel):
    """Every error answer: why, in one string."""

    detail: str


#: Declared on every router. Without it FastAPI documents its own 422 shape (`detail` as a
#: list of objects), which distaff never sends, and no other 4xx at all. The schema is inline,
#: not a `model`: FastAPI would file a model under the route's media type, which for a
#: streaming route is `text/event-stream`, while errors are always JSON.
ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "Refused; `detail` says why",
        "content": {"application/json": {"schema": ErrorBody.model_json_schema()}},
    }
}


# -- assistants -------------------------------------------------------------------------------


class Assistant(BaseModel):
    """An assistant: a graph with its config, at its latest version."""

    assistant_id: UUID
    graph_id: str
    config: Json
    context: Json
    metadata: Json
    name: str
    created_at: datetime
    updated_at: datetime
    version: int
    description: str | None


class SelectedAssistant(Assistant):
    """An assistant in a search page: every key, or only those `select` names."""

    model_config = SELECTABLE


class AssistantVersion(BaseModel):
    """One version of an assistant."""

    assistant_id: UUID
    version: int
    graph_id: str
    config: Json
    context: Json
    metadata: Json
    created_at: datetime
    name: str
    description: str | None


class GraphNode(BaseModel):
    """A node; `__end__` has only its id."""

    id: str
    type: str = absent()
    data: Json = absent()
    metadata: Json = absent('e.g. a ToolNode\'s `{"__tools": [...]}`')


class GraphEdge(BaseModel):
    source: str
    target: str
    conditional: bool = absent()
    data: Any = absent()


class AssistantGraph(BaseModel):
    """The assistant's graph as nodes and edges."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]


class GraphSchemas(BaseModel):
    """A graph's JSON schemas; null where the graph has none (or it cannot be drawn up)."""

    input_schema: Json | None
    output_schema: Json | None
    state_schema: Json | None
    config_schema: Json | None
    context_schema: Json | None


class AssistantSchemas(GraphSchemas):
    """The JSON schemas of the assistant's graph."""

    graph_id: str


#: `/subgraphs`: each subgraph's schemas by its namespace.
Subgraphs = dict[str, GraphSchemas]


# -- threads ----------------------------------------------------------------------------------


class Interrupt(BaseModel):
    id: str
    value: Any
    response_schema: Any = absent()


class RunError(BaseModel):
    """Why a run failed: the exception's class and message."""

    error: str
    message: str


class Thread(BaseModel):
    """A thread. `error` and `interrupts` appear once a run has finished on it; `ttl` only
    with `?include=ttl` on `GET /threads/{thread_id}`, for a thread that has one."""

    thread_id: UUID
    created_at: datetime
    updated_at: datetime
    state_updated_at: datetime
    metadata: Json
    status: ThreadStatus
    config: Json
    values: Any = Field(description="The latest state; null before any run")
    error: RunError | None = absent("The last run's error, or null")
    interrupts: dict[str, list[Interrupt]] = absent("Pending interrupts by task id")
    ttl: Json = absent()


class SelectedThread(Thread):
    """A thread in a search page: every key (but `ttl`), or only those `select` names, and
    `extracted` when the search asked for `extract`."""

    model_config = SELECTABLE

    extracted: Json = absent("Each `extract` alias with what its path found (null for nothing)")


class Pruned(BaseModel):
    pruned_count: int


class Bytes(BaseModel):
    count: int
    bytes: int


class ChannelBytes(BaseModel):
    versions: int
    bytes: int


class ChannelValueBytes(Bytes):
    by_channel: dict[str, ChannelBytes]


class ThreadStorage(BaseModel):
    """Bytes the thread occupies in the checkpointer (serialised sizes)."""

    thread_id: UUID
    total_bytes: int
    checkpoints: Bytes
    channel_values: ChannelValueBytes
    pending_writes: Bytes


class Retention(BaseModel):
    keep_last: int | None
    max_age_seconds: float | None


class ThreadRetention(BaseModel):
    """A thread's checkpoint retention: its own policy (null: none) and the one applied (its
    own, else the deployment's; null: everything is kept)."""

    thread_id: UUID
    policy: Retention | None
    effective: Retention | None


class AssistantStorage(BaseModel):
    """Bytes the assistant's threads occupy, raw as stored: checkpoints, channel values stored
    apart from them (0 on SQLite, which keeps them inside), pending writes."""

    assistant_id: UUID
    checkpoints: int
    checkpoint_bytes: int
    blob_bytes: int
    write_bytes: int
    total_bytes: int


class Checkpoint(BaseModel):
    """Where a checkpoint is."""

    checkpoint_id: str | None
    thread_id: str | None
    checkpoint_ns: str


class ThreadTask(BaseModel):
    id: str
    name: str
    path: list[Any]
    error: str | None = Field(description="The exception's repr, e.g. `ValueError('boom')`")
    interrupts: list[Interrupt]
    checkpoint: Json | None = Field(
        description="A subgraph task's checkpoint config (without `?subgraphs=true`)"
    )
    state: ThreadState | None = Field(
        description="A subgraph task's own state (with `?subgraphs=true`)"
    )
    result: Any


class ThreadState(BaseModel):
    """The state at a checkpoint. A thread no graph has run on has no checkpoint: its state
    has empty values and nulls."""

    values: Any
    next: list[str]
    tasks: list[ThreadTask]
    metadata: Json | None
    created_at: datetime | None
    checkpoint: Checkpoint | None
    parent_checkpoint: Checkpoint | None
    interrupts: list[Interrupt]
    checkpoint_id: str | None
    parent_checkpoint_id: str | None


class StateUpdated(BaseModel):
    """The checkpoint the update wrote."""

    checkpoint: Checkpoint
    configurable: Checkpoint
    checkpoint_id: str


# -- runs -------------------------------------------------------------------------------------


class ModelUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    #: The model's answers that reported usage.
    calls: int


class Usage(BaseModel):
    """Tokens used, as the models reported them (langchain's `usage_metadata`), by model."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    by_model: dict[str, ModelUsage]


class ThreadUsage(Usage):
    """The tokens a thread's runs used, summed."""

    thread_id: UUID


class AssistantUsage(Usage):
    """The tokens an assistant's runs used, summed over all of them (stateless runs and runs of
    deleted threads included)."""

    assistant_id: UUID


class Run(BaseModel):
    """A run. `kwargs` holds what it was created with, the config the server added included.
    `usage` (distaff's): the tokens its models used, once it ended; null before, or when no
    model reported usage."""

    run_id: UUID
    thread_id: UUID
    assistant_id: UUID
    metadata: Json
    status: RunStatus
    kwargs: Json
    multitask_strategy: MultitaskStrategy
    created_at: datetime
    updated_at: datetime
    langsmith_session_name: str | None
    usage: Usage | None


class SelectedRun(Run):
    """A run in a list: every key, or only those `select` names."""

    model_config = SELECTABLE


class FailedRun(BaseModel):
    """A run that failed, as `/wait` and `/join` answer it."""

    error: RunError = Field(alias="__error__")


#: What `/wait`, `/join` and `cancel?wait=true` answer: a failure, or the final values (any
#: JSON, `{}` when there are none).
RUN_RESULT: dict[str, Any] = {
    "model": FailedRun | Any,
    "description": "Always 200. The run's final values (with `__interrupt__` when it paused in"
    " `interrupt()`, `{}` when there are none), or `__error__` when it failed. Newlines before"
    " the JSON keep the connection alive while the run goes on.",
}


# -- crons ------------------------------------------------------------------------------------


class Cron(BaseModel):
    """A cron: a schedule that creates runs. `thread_id` is null for a cron whose runs each
    get a new thread; `on_run_completed` says what becomes of that thread (null otherwise)."""

    cron_id: UUID
    assistant_id: UUID
    thread_id: UUID | None
    user_id: str
    end_time: datetime | None
    schedule: str
    timezone: str
    payload: Json = Field(description="What each run is created with")
    next_run_date: datetime | None
    metadata: Json
    on_run_completed: Literal["delete", "keep"] | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class SelectedCron(Cron):
    """A cron in a search page: every key, or only those `select` names."""

    model_config = SELECTABLE


# -- store ------------------------------------------------------------------------------------


class StoreItem(BaseModel):
    """A long-term memory item."""

    namespace: list[str]
    key: str
    value: Json
    created_at: datetime
    updated_at: datetime


class SearchItem(StoreItem):
    """An item a search found; `score` is its similarity to `query`, null without one (or
    for an item not indexed)."""

    score: float | None


class StoreSearchResults(BaseModel):
    items: list[SearchItem]


class Namespaces(BaseModel):
    namespaces: list[list[str]]
