"""What this process knows, without asking, of its claims on runs, which the checkpointer
(`saver.py`) checks so as to write nothing for a run whose claim may have lapsed.

A claim holds until `lease_seconds` after the heartbeat that renewed it was *sent* (the
database starts its clock later, so the local deadline is never the later of the two). A
process that was frozen (SIGSTOP, a paused VM, a long GC) finds on waking that its monotonic
clock has passed the deadline: by then another process may have taken the run and written to
the thread. The saver checks the deadline before every write, so the stale process writes
nothing; the run's record is fenced separately (by owner, in `claims.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from langchain_core.runnables import RunnableConfig

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
