"""Crons: what an update writes."""

from __future__ import annotations

from distaff.errors import NotFound
from distaff.models import Cron, Json


def updated(current: Cron, changes: Json, now: str) -> Cron:
    """The whole cron after `changes` (metadata merged into the current one's)."""
    new: Cron = {**current, **changes, "updated_at": now}  # type: ignore[typeddict-item]
    if "metadata" in changes:
        new["metadata"] = {**current["metadata"], **changes["metadata"]}
    return new


def not_found(cron_id: str) -> NotFound:
    return NotFound(f"Cron {cron_id} not found")
