"""Checkpoint retention: where a thread's checkpoints are cut, the same on every backend."""

from __future__ import annotations


def retention_cut(nth: str | None, older_than: str | None) -> str | None:
    """The checkpoint ID below which retention deletes: the later of the two limits (the
    `keep_last`-th checkpoint of the main line, the ID of `max_age` ago), None for neither.
    IDs are uuid6 strings, whose order is their time's."""
    cuts = [c for c in (nth, older_than) if c]
    return max(cuts) if cuts else None
