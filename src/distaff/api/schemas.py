"""Request bodies. Pydantic validates them and FastAPI publishes them in `/openapi.json`."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from distaff.api.validators import (
    MAX_AFTER_SECONDS,
    MAX_IDS,
    MAX_SAFE_INT,
    MAX_STORE_VALUE_DEPTH,
    MAX_TTL_MINUTES,
    Filter,
    Schedule,
    UtcDatetime,
    at_most_levels,
    storable_integers,
)
from distaff.models import SortOrder, StreamMode, ThreadStatus
from distaff.run_spec import DEFAULT_ON_COMPLETION, DEFAULT_STREAM_MODE, OnCompletion

Limit = Field(default=10, ge=1, le=1000)
Offset = Field(default=0, ge=0, le=MAX_SAFE_INT)


#: A thread, run, cron or assistant id in a path. Typed `str` so that each service answers a
#: malformed one as the contract wants (404 for a thread, 422 for an assistant); the document
#: still says it is a UUID.
IdPath = Annotated[str, Path(json_schema_extra={"format": "uuid"})]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class Config(BaseModel):
    """A RunnableConfig: the known keys are checked, any other key is kept."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    tags: list[str] | None = None
    recursion_limit: int | None = Field(default=None, ge=1)
    configurable: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class AssistantCreate(Body):
    graph_id: str
    assistant_id: UUID | None = None
    config: Config | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"


class AssistantPatch(Body):
    graph_id: str | None = None
    config: Config | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None


AssistantField = Literal[
    "assistant_id",
    "graph_id",
    "config",
    "context",
    "metadata",
    "name",
    "created_at",
    "updated_at",
    "version",
    "description",
]


class AssistantCount(Body):
    metadata: Filter | None = None
    graph_id: str | None = None
    name: str | None = None


class AssistantSearch(AssistantCount):
    limit: int = Limit
    offset: int = Offset
    sort_by: Literal["assistant_id", "created_at", "updated_at", "name", "graph_id"] | None = None
    sort_order: SortOrder | None = None
    select: list[AssistantField] | None = None


class AssistantVersionsSearch(Body):
    metadata: Filter | None = None
    limit: int = Limit
    offset: int = Offset


class AssistantLatest(Body):
    version: int = Field(ge=1, le=MAX_SAFE_INT)


class ThreadTTL(Body):
    strategy: Literal["delete", "keep_latest"] = "delete"
    ttl: float = Field(gt=0, le=MAX_TTL_MINUTES)


class ThreadCreate(Body):
    thread_id: UUID | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    ttl: ThreadTTL | None = None
    supersteps: list[dict[str, Any]] | None = None


#: A hundred years: longer keeps everything anyway.
MAX_AGE_SECONDS = 100 * 365 * 86_400


class RetentionPolicy(Body):
    """A thread's own checkpoint retention (distaff's): it replaces the deployment's."""

    # A misspelt key would otherwise read as "keep everything": distaff's own body, so strict.
    model_config = ConfigDict(extra="forbid")

    #: Keep this many newest checkpoints of the thread's main line (null: all).
    keep_last: int | None = Field(default=None, ge=1, le=MAX_SAFE_INT)
    #: And none older than this (null: no age limit). The latest always stays.
    max_age_seconds: float | None = Field(default=None, gt=0, le=MAX_AGE_SECONDS)


class ThreadPatch(Body):
    metadata: dict[str, Any] | None = None
    ttl: ThreadTTL | None = None


ThreadField = Literal[
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "config",
    "status",
    "values",
    "interrupts",
    "error",
    "ttl",
]


class ThreadCount(Body):
    metadata: Filter | None = None
    values: Filter | None = None
    status: ThreadStatus | None = None


class ThreadSearch(ThreadCount):
    ids: list[UUID] | None = Field(default=None, max_length=MAX_IDS)
    limit: int = Limit
    offset: int = Offset
    sort_by: (
        Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"] | None
    ) = None
    sort_order: SortOrder | None = None
    select: list[ThreadField] | None = None
    extract: dict[str, str] | None = None


class ThreadPrune(Body):
    thread_ids: list[str] = Field(max_length=MAX_IDS)
    strategy: Literal["delete", "keep_latest"] = "delete"


class CheckpointRef(Body):
    checkpoint_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class StateUpdate(Body):
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = None


class StateAtCheckpoint(Body):
    checkpoint: CheckpointRef
    subgraphs: bool = False


class HistoryRequest(Body):
    limit: int = Field(default=1, ge=1, le=1000)
    before: str | CheckpointRef | None = None
    metadata: Filter | None = None
    checkpoint: CheckpointRef | None = None


class GotoSend(Body):
    """A `Send`: a node to run with its own input."""

    node: str
    input: Any = None


class Command(Body):
    resume: Any = None
    #: A dict, or `[channel, value]` pairs.
    update: (
        dict[str, Any] | list[Annotated[list[Any], Field(min_length=2, max_length=2)]] | None
    ) = None
    #: Node names, or `{"node", "input"}` sends (checked against the graph by the run service).
    goto: str | GotoSend | list[str | GotoSend] | None = None


class RunCreateStateless(Body):
    assistant_id: str
    input: Any = None
    command: Command | None = None
    metadata: dict[str, Any] | None = None
    config: Config | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    stream_mode: StreamMode | list[StreamMode] = Field(
        default_factory=lambda: list(DEFAULT_STREAM_MODE)  # type: ignore[arg-type]
    )
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    feedback_keys: list[str] | None = None
    after_seconds: float | None = Field(default=None, ge=0, le=MAX_AFTER_SECONDS)
    checkpoint_during: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    on_disconnect: Literal["cancel", "continue"] = "continue"
    on_completion: OnCompletion = DEFAULT_ON_COMPLETION

    def payload(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True)
        if self.command is not None:
            data["command"] = self.command.model_dump(exclude_unset=True)
        return data


class RunCreateStateful(RunCreateStateless):
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None = None
    if_not_exists: Literal["create", "reject"] = "reject"
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = None

    def payload(self) -> dict[str, Any]:
        data = super().payload()
        if self.checkpoint is not None:
            data["checkpoint"] = self.checkpoint.model_dump(exclude_none=True)
        return data


class RunsCancel(Body):
    thread_id: UUID | None = None
    run_ids: list[UUID] | None = Field(default=None, max_length=MAX_IDS)
    status: Literal["pending", "running", "all"] | None = None

    @model_validator(mode="after")
    def one_form(self) -> RunsCancel:
        by_ids = self.run_ids is not None
        if by_ids == (self.status is not None):
            raise ValueError("give either thread_id and run_ids, or status, but not both")
        if by_ids and self.thread_id is None:
            raise ValueError("run_ids need thread_id")
        return self


class StoreDelete(Body):
    namespace: list[str]
    key: str


class StorePut(StoreDelete):
    value: Annotated[
        dict[str, Any],
        at_most_levels(MAX_STORE_VALUE_DEPTH),
        AfterValidator(storable_integers),
    ]
    index: Literal[False] | list[str] | None = None
    ttl: float | None = Field(default=None, gt=0, le=MAX_TTL_MINUTES)


class StoreSearch(Body):
    namespace_prefix: list[str] = Field(default_factory=list)
    filter: Filter | None = None
    limit: int = Limit
    offset: int = Offset
    query: str | None = None
    refresh_ttl: bool | None = None


class StoreNamespaces(Body):
    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(default=None, ge=1, le=MAX_SAFE_INT)
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Offset


class CronBody(Body):
    """What the runs a cron creates look like (shared by create and patch)."""

    input: Any = None
    metadata: dict[str, Any] | None = None
    config: Config | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    end_time: UtcDatetime | None = None
    enabled: bool | None = None
    timezone: str | None = None


class CronCreate(CronBody):
    assistant_id: str
    schedule: Schedule
    on_run_completed: Literal["delete", "keep"] | None = None


class ThreadCronCreate(CronBody):
    assistant_id: str
    schedule: Schedule
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None = None


class CronPatch(CronBody):
    schedule: Schedule | None = None
    on_run_completed: Literal["delete", "keep"] | None = None


CronField = Literal[
    "cron_id",
    "assistant_id",
    "thread_id",
    "user_id",
    "end_time",
    "schedule",
    "timezone",
    "payload",
    "next_run_date",
    "metadata",
    "on_run_completed",
    "enabled",
    "created_at",
    "updated_at",
]


class CronCount(Body):
    assistant_id: str | None = None
    thread_id: UUID | None = None
    enabled: bool | None = None
    metadata: Filter | None = None


class CronSearch(CronCount):
    limit: int = Limit
    offset: int = Offset
    sort_by: (
        Literal[
            "cron_id",
            "assistant_id",
            "thread_id",
            "next_run_date",
            "end_time",
            "created_at",
            "updated_at",
        ]
        | None
    ) = None
    sort_order: SortOrder | None = None
    select: list[CronField] | None = None


#: The body of the JSON-RPC routes (`/mcp`, `/a2a/{assistant_id}`): one request, notification
#: or response; what the method takes is the protocol's.
JSONRPC_MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["jsonrpc"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["string", "integer", "null"]},
        "method": {"type": "string"},
        "params": {"type": "object"},
    },
}
