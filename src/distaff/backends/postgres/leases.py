"""What this process knows, without asking, of its claims on runs; and the checkpointer that
refuses to write for a run whose claim may have lapsed.

A claim holds until `lease_seconds` after the heartbeat that renewed it was *sent* (the
database starts its clock later, so the local deadline is never the later of the two). A
process that was frozen (SIGSTOP, a paused VM, a long GC) finds on waking that its monotonic
clock has passed the deadline: by then another process may have taken the run and written to
the thread. The saver checks the deadline before every write, so the stale process writes
nothing; the run's record is fenced separately (by owner, in `claims.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from distaff.errors import LeaseLost


class Leases:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadlines: dict[str, float] = {}

    def renewed(self, run_ids: Iterable[str], sent_at: float) -> None:
        for run_id in run_ids:
            self._deadlines[run_id] = sent_at + self.seconds

    def drop(self, run_id: str) -> None:
        self._deadlines.pop(run_id, None)

    def check(self, config: RunnableConfig) -> None:
        """Raise `LeaseLost` if the config's run is claimed here and its lease has lapsed."""
        run_id = (config.get("configurable") or {}).get("run_id")
        deadline = self._deadlines.get(run_id) if isinstance(run_id, str) else None
        if deadline is not None and time.monotonic() > deadline:
            raise LeaseLost(f"the lease on run {run_id} lapsed")


class FencedSaver(AsyncPostgresSaver):
    """langgraph's Postgres saver, writing only for runs whose lease holds."""

    leases: Leases

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self.leases.check(config)
        return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.leases.check(config)
        await super().aput_writes(config, writes, task_id, task_path)
