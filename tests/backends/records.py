"""The records the repositories take, built as the services build them, with times a test
chooses: a run's `created_at` orders the queue, a thread's `updated_at` starts its TTL clock,
so tests set them instead of waiting."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from distaff.ids import isoformat, utcnow
from distaff.models import Assistant, Cron, Json, MultitaskStrategy, Run, Thread, ThreadStatus
from distaff.state import ThreadSnapshot


def new_id() -> str:
    return str(uuid.uuid4())


def at(seconds: float = 0.0, *, base: datetime | None = None) -> str:
    """A timestamp `seconds` from now (or from `base`), as distaff writes them."""
    return isoformat((base or utcnow()) + timedelta(seconds=seconds))


def thread(
    thread_id: str | None = None,
    *,
    updated: float = 0.0,
    metadata: Json | None = None,
    ttl: Json | None = None,
    status: ThreadStatus = "idle",
) -> Thread:
    """A thread last updated `updated` seconds from now (negative: in the past)."""
    moment = at(updated)
    record: Thread = {
        "thread_id": thread_id or new_id(),
        "created_at": moment,
        "updated_at": moment,
        "state_updated_at": moment,
        "metadata": metadata or {},
        "status": status,
        "config": {},
        "values": None,
    }
    if ttl is not None:
        record["ttl"] = ttl
    return record


def run(
    thread_id: str,
    *,
    created: float = -1.0,
    strategy: MultitaskStrategy = "enqueue",
    kwargs: Json | None = None,
    run_id: str | None = None,
    assistant_id: str = "assistant",
) -> Run:
    """A pending run created `created` seconds from now: in the past it is due, in the
    future it is scheduled (`after_seconds`)."""
    moment = at(created)
    return {
        "run_id": run_id or new_id(),
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "metadata": {"graph_id": "agent"},
        "status": "pending",
        "kwargs": kwargs or {},
        "multitask_strategy": strategy,
        "created_at": moment,
        "updated_at": moment,
        "langsmith_session_name": None,
    }


def snapshot(
    values: Any = None, *, has_next: bool = False, error: Json | None = None
) -> ThreadSnapshot:
    return ThreadSnapshot(values=values, interrupts={}, has_next=has_next, error=error)


def assistant(
    assistant_id: str | None = None,
    *,
    graph_id: str = "agent",
    name: str | None = None,
    metadata: Json | None = None,
    config: Json | None = None,
    created: float = 0.0,
) -> Assistant:
    moment = at(created)
    aid = assistant_id or new_id()
    return {
        "assistant_id": aid,
        "graph_id": graph_id,
        "config": config or {},
        "context": {},
        "metadata": metadata or {},
        "name": name or aid,
        "created_at": moment,
        "updated_at": moment,
        "version": 1,
        "description": None,
    }


def whole_seconds(seconds: float) -> str:
    """A cron's next run date `seconds` from now, in whole seconds as `services.crons` writes
    it."""
    return (utcnow() + timedelta(seconds=seconds)).replace(microsecond=0).isoformat()


def cron(
    assistant_id: str = "assistant",
    *,
    next_run: float | None = -60.0,
    enabled: bool = True,
    thread_id: str | None = None,
    metadata: Json | None = None,
    end_time: str | None = None,
    created: float = 0.0,
) -> Cron:
    """A cron whose next run date is `next_run` seconds from now (None: it has none)."""
    moment = at(created)
    return {
        "cron_id": new_id(),
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "user_id": "",
        "end_time": end_time,
        "schedule": "* * * * *",
        "timezone": "UTC",
        "payload": {"assistant_id": assistant_id},
        "next_run_date": None if next_run is None else whole_seconds(next_run),
        "metadata": metadata or {},
        "on_run_completed": None if thread_id else "delete",
        "enabled": enabled,
        "created_at": moment,
        "updated_at": moment,
    }
