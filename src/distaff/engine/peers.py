"""The other processes sharing this one's database, as the engine and the services see them.

`Cluster` (engine/cluster.py) is the real thing, over the backend's relay. A backend without
one (memory, SQLite) has no other processes: `Solo` then answers every call by doing nothing,
so callers never ask which of the two they hold.
"""

from __future__ import annotations

from typing import Protocol

from distaff.events import StreamEvent
from distaff.models import CancelAction, RunOutcome


class Outbox(Protocol):
    """What the broker asks while it publishes."""

    def wants(self, run_id: str, thread_id: str, *, resumable: bool) -> bool:
        """Whether the run's events go to other processes too: every event of a resumable
        run, and those of a run someone elsewhere reads."""

    def send(self, run_id: str, thread_id: str, event: StreamEvent) -> None: ...

    def forget(self, run_id: str) -> None:
        """The run ended: nobody elsewhere reads it any more."""


class Peers(Outbox, Protocol):
    # -- for the executor ---------------------------------------------------------------------

    def export(self, run_id: str) -> None:
        """Another process reads this run (its creator streams or waits for it there): send
        its events from now on."""

    async def end_log(self, run_id: str, outcome: RunOutcome) -> None:
        """Close the run's event log with its outcome, if it has one, and wait until it is
        written (before the run's end is committed)."""

    # -- for the services ---------------------------------------------------------------------

    async def follow(self, run_id: str, thread_id: str, *, events: bool) -> None:
        """Before subscribing to a run that may execute elsewhere: mirror it here."""

    async def follow_thread(self, thread_id: str, *, replay: bool) -> None: ...

    async def unfollow_thread(self, thread_id: str) -> None: ...

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        """Stop a running run wherever it executes."""


class Solo:
    """A lone process: every run executes here, so there is nobody to tell anything."""

    def wants(self, run_id: str, thread_id: str, *, resumable: bool) -> bool:
        return False

    def send(self, run_id: str, thread_id: str, event: StreamEvent) -> None:
        pass

    def forget(self, run_id: str) -> None:
        pass

    def export(self, run_id: str) -> None:
        pass

    async def end_log(self, run_id: str, outcome: RunOutcome) -> None:
        pass

    async def follow(self, run_id: str, thread_id: str, *, events: bool) -> None:
        pass

    async def follow_thread(self, thread_id: str, *, replay: bool) -> None:
        pass

    async def unfollow_thread(self, thread_id: str) -> None:
        pass

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        pass
