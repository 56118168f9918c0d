"""Threads: `create` on an existing id, metadata updates, the status a state update leaves,
and when an idle thread's TTL has run out. (The status a run's end leaves is in `runs`.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from distaff.errors import Conflict, NotFound
from distaff.models import Json, Thread, ThreadStatus


def if_exists(existing: Thread, *, do_nothing: bool) -> Thread:
    """What `create` answers when the id exists: the stored thread with `do_nothing`."""
    if do_nothing:
        return existing
    raise already_exists(existing["thread_id"])


def merged_metadata(current: Json, changes: Json | None) -> Json:
    """An update's metadata: its keys over the current ones (a shallow merge)."""
    return {**current, **(changes or {})}


def status_after_state(current: ThreadStatus, *, has_next: bool) -> ThreadStatus | None:
    """A state written outside a run: an idle thread turns `interrupted` when the new state has
    a next step, and back to `idle` when not. A busy one stays busy (None: unchanged): its
    run's end decides."""
    if current == "busy":
        return None
    return "interrupted" if has_next else "idle"


def expired_strategy(ttl: Any, updated_at: datetime, now: datetime) -> str | None:
    """What to do with an idle thread (`delete` unless its TTL says otherwise) once it has
    been untouched for longer than its TTL (`{"ttl": minutes, "strategy": ...}`); None while
    it has not, or when its TTL gives no number of minutes."""
    ttl = ttl or {}
    minutes = ttl.get("ttl")
    if not isinstance(minutes, int | float):
        return None
    if now - updated_at > timedelta(minutes=minutes):
        return str(ttl.get("strategy") or "delete")
    return None


def already_exists(thread_id: str) -> Conflict:
    return Conflict(f"Thread with ID {thread_id} already exists")


def not_found(thread_id: str) -> NotFound:
    return NotFound(f"Thread with ID {thread_id} not found")
