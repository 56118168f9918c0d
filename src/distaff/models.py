"""The records distaff stores and serves. TypedDicts: they are the JSON the API returns,
so building one in the documented key order is all the serialisation there is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from distaff.run_spec import RunSpec
from distaff.serde import Raw

Json = dict[str, Any]

#: A run waits in the queue (`pending`), executes (`running`), then ends in one of the rest.
RunStatus = Literal["pending", "running", "success", "error", "timeout", "interrupted"]
#: `busy` while a run is pending or running on the thread; otherwise how the last run ended.
ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
#: The v1 API's stream modes (the engine maps them onto langgraph's, see `engine/modes.py`).
StreamMode = Literal[
    "values",
    "messages",
    "messages-tuple",
    "updates",
    "events",
    "debug",
    "custom",
    "tasks",
    "checkpoints",
]
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
CancelAction = Literal["interrupt", "rollback"]
IfExists = Literal["raise", "do_nothing"]
SortOrder = Literal["asc", "desc"]

ACTIVE_RUN_STATUSES: tuple[RunStatus, ...] = ("pending", "running")


class Assistant(TypedDict):
    assistant_id: str
    graph_id: str
    config: Json
    context: Json
    metadata: Json
    name: str
    created_at: str
    updated_at: str
    version: int
    description: str | None


class AssistantVersion(TypedDict):
    assistant_id: str
    version: int
    graph_id: str
    config: Json
    context: Json
    metadata: Json
    created_at: str
    name: str
    description: str | None


class Thread(TypedDict, total=False):
    thread_id: str
    created_at: str
    updated_at: str
    state_updated_at: str
    metadata: Json
    status: ThreadStatus
    config: Json
    values: Any
    error: Any
    interrupts: Json
    ttl: Any


class Run(TypedDict):
    run_id: str
    thread_id: str
    assistant_id: str
    metadata: Json
    status: RunStatus
    #: Its parameters (`RunSpec.to_stored()`), as stored and as clients see them.
    kwargs: Json
    multitask_strategy: MultitaskStrategy
    created_at: str
    updated_at: str
    langsmith_session_name: str | None
    #: The tokens its models used (`distaff.usage`), once it ended; None before, or if no
    #: model reported any.
    usage: Json | None


class Cron(TypedDict):
    cron_id: str
    assistant_id: str
    thread_id: str | None
    user_id: str
    end_time: str | None
    schedule: str
    timezone: str
    payload: Json
    next_run_date: str | None
    metadata: Json
    on_run_completed: str | None
    enabled: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class CronQuery:
    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: Json = field(default_factory=dict)
    sort_by: str = "created_at"
    sort_order: SortOrder = "desc"
    #: What the auth handler limits the caller to (`auth/filters.py`); None for everything.
    auth: Json | None = None


def is_temporary(kwargs: Json) -> bool:
    """Whether a run's thread goes away with it, from its stored `kwargs` (the backends read
    rows, not specs): `RunSpec.deletes_thread`."""
    return RunSpec.from_stored(kwargs).deletes_thread


@dataclass(frozen=True, slots=True)
class Page:
    limit: int = 10
    offset: int = 0


@dataclass(frozen=True, slots=True)
class AssistantQuery:
    metadata: Json = field(default_factory=dict)
    graph_id: str | None = None
    name: str | None = None
    sort_by: str = "created_at"
    sort_order: SortOrder = "desc"
    #: What the auth handler limits the caller to (`auth/filters.py`); None for everything.
    auth: Json | None = None


@dataclass(frozen=True, slots=True)
class ThreadQuery:
    ids: tuple[str, ...] | None = None
    metadata: Json = field(default_factory=dict)
    values: Json = field(default_factory=dict)
    status: ThreadStatus | None = None
    sort_by: str = "created_at"
    sort_order: SortOrder = "desc"
    #: What the auth handler limits the caller to (`auth/filters.py`); None for everything.
    auth: Json | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended, as the engine tells waiters and stores on the thread.

    `values` is the last full state the run streamed (with `__interrupt__` when the graph
    paused in `interrupt()`), `error` the `{error, message}` pair when it failed.
    """

    status: RunStatus | Literal["rollback"]
    values: Any = None
    error: Json | None = None
    #: The tokens its models used (`distaff.usage`), None if none reported any.
    usage: Json | None = None
    #: `values` as JSON when it was encoded already (`ThreadSnapshot.values_json`, the same
    #: state stored on the thread): the answer reuses the bytes.
    values_json: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    def wait_body(self) -> Any:
        """The JSON body `/wait` and `/join` answer with (contract section 7)."""
        if self.error is not None and self.status == "error":
            return {"__error__": self.error}
        if self.values is None:
            return {}
        return self.values if self.values_json is None else Raw(self.values_json())
