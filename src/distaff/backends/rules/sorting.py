"""What searches may sort by. A sort key is interpolated into SQL as a column name, so it is
checked against these lists, whatever the API validated before."""

from __future__ import annotations

from typing import Literal

from distaff.errors import InvalidInput
from distaff.models import SortOrder

ASSISTANTS = ("assistant_id", "created_at", "updated_at", "name", "graph_id")
THREADS = ("thread_id", "status", "created_at", "updated_at", "state_updated_at")
CRONS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "next_run_date",
    "end_time",
    "created_at",
    "updated_at",
)


def sort_key(allowed: tuple[str, ...], sort_by: str) -> str:
    """`sort_by`, once it is one of `allowed` (each the name of its column)."""
    if sort_by not in allowed:
        raise InvalidInput(f"Cannot sort by {sort_by!r}; expected one of {', '.join(allowed)}")
    return sort_by


def direction(sort_order: SortOrder) -> Literal["ASC", "DESC"]:
    return "ASC" if sort_order == "asc" else "DESC"
