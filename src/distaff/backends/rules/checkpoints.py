"""Checkpoint retention: where a thread's checkpoints are cut, the same on every backend."""

from __future__ import annotations

from typing import Any

from distaff.ids import is_uuid


def retention_cut(nth: str | None, older_than: str | None) -> str | None:
    """The checkpoint ID below which retention deletes: the later of the two limits (the
    `keep_last`-th checkpoint of the main line, the ID of `max_age` ago), None for neither.
    IDs are uuid6 strings, whose order is their time's."""
    cuts = [c for c in (nth, older_than) if c]
    return max(cuts) if cuts else None


def stamped_assistant(value: Any) -> str | None:
    """The assistant a thread's metadata names, if it is an assistant ID (users may write
    anything there; `/metrics` labels must stay few and strings)."""
    return value if isinstance(value, str) and is_uuid(value) else None
