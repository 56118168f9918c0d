"""What distaff processes sharing one database tell each other.

A run executes in one process, but its client may be connected to any other: the `reader`
that created it with `/stream` or `/wait`, a later `join` or rejoin, a thread stream, a cancel.
A relay carries, between processes:

- wake-ups: a run became claimable (the queue is polled only as a floor);
- run ends: a run stopped being active, with its status;
- cancels: stop this run wherever it executes;
- watches: "this process has readers of run R" (or of thread T), so the process executing R
  starts sending R's events;
- an event log per run: the stream events sent for remote readers and every event of a
  resumable run, readable from any process by a cursor, with a notification per batch.

Single-process backends need none of this and have no relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from distaff.engine.broker import StreamEvent
from distaff.models import CancelAction


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    #: Where this event is in its run's log; reading after it gives the events that follow.
    cursor: str
    event: StreamEvent


class Signals(Protocol):
    """What a relay calls on its own process when another one says something."""

    def on_wake(self) -> None: ...

    def on_cancel(self, run_id: str, action: CancelAction) -> None: ...

    def on_watch(self, key: str, watching: bool) -> None:
        """Another process started (or stopped) reading `run:<id>` or `thread:<id>`."""

    async def on_events(self, run_id: str, thread_id: str) -> None:
        """New events are in `run_id`'s log."""

    async def on_end(self, run_id: str, thread_id: str, status: str) -> None:
        """A run stopped being active (`rollback` when it was deleted)."""

    async def on_reconnect(self) -> None:
        """The relay lost its connection for a while: anything may have been missed."""


class Relay(Protocol):
    async def start(self, signals: Signals) -> None: ...

    async def stop(self) -> None: ...

    def send(self, run_id: str, thread_id: str, event: StreamEvent) -> None:
        """Append an event to its run's log. Events are written in order, in batches, off the
        caller's path; `flush` waits until everything sent so far is written."""

    async def flush(self) -> None: ...

    async def read(self, run_id: str, after: str | None) -> list[LoggedEvent]:
        """The run's logged events after the cursor `after` (all of them for None)."""

    async def cancel(self, run_id: str, action: CancelAction) -> None: ...

    async def watch(self, key: str, watching: bool) -> None: ...

    async def prune(self, retention_seconds: float) -> int:
        """Drop the logs of runs that ended more than `retention_seconds` ago."""
