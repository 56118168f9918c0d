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

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from distaff.events import StreamEvent
from distaff.models import CancelAction

log = logging.getLogger("distaff.relay")


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

    async def on_hello(self, sender: str) -> None:
        """A process (`sender`) started listening: it has heard none of the watches sent
        before; tell it this process's (`Relay.rewatch`)."""

    async def on_events(self, run_id: str, thread_id: str) -> None:
        """New events are in `run_id`'s log."""

    async def on_thread_events(self, thread_id: str) -> None:
        """New events are in the thread's v2 event log."""

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

    async def hello(self) -> None:
        """Say this process started listening (or listens again after losing its connection),
        so the others tell it what they watch."""

    async def rewatch(self, target: str, key: str) -> None:
        """Tell the process `target` (a `hello` sender) that this one watches `key`."""

    async def prune(self, retention_seconds: float) -> int:
        """Drop the logs of runs that ended more than `retention_seconds` ago."""


# -- what the relays share ---------------------------------------------------------------------

#: `(run_id, thread_id, event)`.
Entry = tuple[str, str, StreamEvent]


class BatchWriter:
    """Events on their way to a log, written in order in batches: the events that arrive while
    one batch is being written form the next."""

    def __init__(self, write: Callable[[list[Entry]], Awaitable[None]], max_batch: int) -> None:
        self._write = write
        self._max = max_batch
        self._queue: asyncio.Queue[Entry | asyncio.Future[None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="distaff-relay-write")

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def send(self, run_id: str, thread_id: str, event: StreamEvent) -> None:
        self._queue.put_nowait((run_id, thread_id, event))

    async def flush(self) -> None:
        """Wait until everything sent so far is written (or failed to be)."""
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(done)
        await done

    async def _run(self) -> None:
        while True:
            batch: list[Entry] = []
            waiters: list[asyncio.Future[None]] = []
            item = await self._queue.get()
            while True:
                if isinstance(item, asyncio.Future):
                    waiters.append(item)
                else:
                    batch.append(item)
                if len(batch) >= self._max or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            try:
                if batch:
                    await self._write(batch)
            except Exception:
                # Readers in other processes miss these events; the run itself goes on.
                log.exception("could not write %d stream event(s) to the event log", len(batch))
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)


class RelayBase:
    """A relay's machinery: events written in batches off the publisher's path, and a listener
    that reconnects with backoff and, after a reconnect, tells the process to look again at
    what it may have missed. Subclasses write batches and listen once."""

    def __init__(self, max_batch: int) -> None:
        self._writer = BatchWriter(self._write_batch, max_batch)
        self._listener: asyncio.Task[None] | None = None
        self._signals: Signals | None = None
        self._listening = asyncio.Event()
        self._reconnected = False

    async def _write_batch(self, batch: list[Entry]) -> None:
        raise NotImplementedError

    async def _listen_once(self, signals: Signals) -> None:
        """Connect, subscribe, call `_subscribed()`, then dispatch until the connection ends."""
        raise NotImplementedError

    async def start(self, signals: Signals) -> None:
        self._signals = signals
        self._writer.start()
        self._listener = asyncio.create_task(self._listen(signals), name="distaff-relay-listen")
        # Listening before serving: a watch or wake sent right after start-up is not missed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def stop(self) -> None:
        await self._writer.stop()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    def send(self, run_id: str, thread_id: str, event: StreamEvent) -> None:
        self._writer.send(run_id, thread_id, event)

    async def flush(self) -> None:
        await self._writer.flush()

    async def _subscribed(self) -> None:
        self._listening.set()
        if self._reconnected and self._signals is not None:
            await self._signals.on_reconnect()

    async def _listen(self, signals: Signals) -> None:
        delay = 0.1
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await self._listen_once(signals)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s lost (%s); reconnecting in %.1fs", type(self).__name__, exc, delay)
            if asyncio.get_running_loop().time() - started > 30:
                delay = 0.1  # it had been up a while: this is a new outage
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            self._reconnected = True
