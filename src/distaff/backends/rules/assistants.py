"""Assistants: what `create` does with an existing id, and how versions are made.

Every change writes a new version, numbered one past the highest ever written (not past the
current one: `set_latest` may have moved back), and makes it current; `set_latest` makes an
old version current again without writing a new one.
"""

from __future__ import annotations

from distaff.errors import Conflict, NotFound
from distaff.models import Assistant, AssistantVersion, Json


def if_exists(existing: Assistant, *, do_nothing: bool) -> Assistant:
    """What `create` answers when the id exists: the stored assistant with `do_nothing`."""
    if do_nothing:
        return existing
    raise already_exists(existing["assistant_id"])


def new_version(current: Assistant, changes: Json, latest: int | None, now: str) -> Assistant:
    """`current` with `changes` applied (its metadata merged into the current one's) as the
    version after `latest`, the highest written so far."""
    new: Assistant = {**current, **changes}  # type: ignore[typeddict-item]
    new["metadata"] = {**current["metadata"], **(changes.get("metadata") or {})}
    new["version"] = (latest or 0) + 1
    new["updated_at"] = now
    return new


def restored(current: Assistant, chosen: AssistantVersion, now: str) -> Assistant:
    """`current` made version `chosen` again (its id and creation time stay)."""
    return {
        **current,
        "graph_id": chosen["graph_id"],
        "config": chosen["config"],
        "context": chosen["context"],
        "metadata": chosen["metadata"],
        "name": chosen["name"],
        "description": chosen["description"],
        "version": chosen["version"],
        "updated_at": now,
    }


def already_exists(assistant_id: str) -> Conflict:
    return Conflict(f"Assistant {assistant_id} already exists")


def not_found(assistant_id: str) -> NotFound:
    return NotFound(f"Assistant {assistant_id} not found")


def no_version(assistant_id: str, version: int) -> NotFound:
    return NotFound(f"Assistant {assistant_id} has no version {version}")
