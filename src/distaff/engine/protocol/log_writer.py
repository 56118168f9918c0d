"""What the event hub keeps of each thread here, and its writing of the numbered events to the
backend's `EventLog`: in batches over all threads, gathered for up to `WINDOW` while other
processes share the log, `ALONE_WINDOW` when this process is alone on its database. `EventHub`
(hub.py) builds on it: it numbers the events, and hands them to tapes and readers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from distaff.backends.base import EventLog, LoggedEnvelope
from distaff.engine.protocol.projection import Namespace
from distaff.engine.protocol.reader import PAGE, Reader
from distaff.errors import Unavailable

log = logging.getLogger("distaff.events")

#: Threads whose last `seq` a lone process remembers after forgetting them.
RECENT = 10_000
#: How long a batch of events gathers before it is written, in seconds: while other processes
#: share the log (their readers see events once written; on PostgreSQL the writes overlap the
#: run), and alone on the database (the log serves replays and restarts only; most runs'
#: events are then stored with their end, `Tape.end`, written once).
WINDOW = 0.01
ALONE_WINDOW = 0.25
#: (run id, method, namespace, data, timestamp, where to hold it instead of delivering it): an
#: event waiting for its thread's `seq`.
Unnumbered = tuple[str, str, Namespace, Any, int, "list[LoggedEnvelope] | None"]


@dataclass(slots=True, eq=False)
class HubThread:
    #: The `seq` to number on from; None until read from the log.
    seq: int | None = None
    #: The highest `seq` this process numbered (the log may not have it yet).
    numbered: int = 0
    #: Number on from past `RETRY_GAP` (a retried run's attempt).
    jump: bool = False
    loading: asyncio.Task[None] | None = None
    unnumbered: list[Unnumbered] = field(default_factory=list)
    tail: deque[LoggedEnvelope] = field(default_factory=deque)
    readers: set[Reader] = field(default_factory=set)
    #: Runs projecting onto this thread here now.
    tapes: int = 0
    #: Readers in other processes (their watches).
    remote: int = 0
    #: Its events in the write queue, and the `seq` up to which a run's end already stored
    #: them (the queue then skips them).
    queued: int = 0
    stored: int = 0

    def idle(self) -> bool:
        return not (
            self.readers or self.tapes or self.remote or self.tail or self.unnumbered or self.queued
        )


class LogWriter:
    def __init__(self, events: EventLog, *, keep: int) -> None:
        self._log = events
        self._keep = keep
        self._threads: dict[str, HubThread] = {}
        #: Alone on the database: where threads forgotten here numbered up to.
        self._recent: OrderedDict[str, int] = OrderedDict()
        self._queue: deque[tuple[str, LoggedEnvelope]] = deque()
        self._wake = asyncio.Event()
        #: Write what is queued without gathering more (someone waits for it).
        self._now = asyncio.Event()
        self._sent = 0
        self._written = 0
        self._progress = asyncio.Condition()
        #: The threads whose events the write under way holds (a run's end waits for it
        #: rather than write the same rows at the same time).
        self._writing: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        #: Tells the other processes this one reads (or stopped reading) a thread.
        self._watch: Callable[[str, bool], Awaitable[None]] | None = None

    @property
    def shared(self) -> bool:
        """Whether other processes write this log too."""
        return self._watch is not None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._write_loop(), name="distaff-events-write")

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _unwritten(self, thread_id: str) -> dict[str, list[LoggedEnvelope]]:
        """The thread's events not yet known to be written, taken from the write queue for a
        run's end to store (`_stored` once it did, `_unstored` if it did not)."""
        thread = self._threads.get(thread_id)
        if thread is None:
            return {}
        if thread.loading is not None:
            await asyncio.shield(thread.loading)
        if thread_id in self._writing:
            # Its earlier events are being written: wait (the same rows written by two
            # transactions at once can deadlock on PostgreSQL), then take what is left.
            async with self._progress:
                await self._progress.wait_for(lambda: thread_id not in self._writing)
        if not thread.tail:
            return {}
        thread.stored = max(thread.stored, thread.tail[-1].seq)  # the queue skips them now
        return {thread_id: list(thread.tail)}

    def _stored(self, batch: dict[str, list[LoggedEnvelope]]) -> None:
        """`batch` is in the log: out of its threads' tails."""
        for thread_id, envelopes in batch.items():
            thread = self._threads.get(thread_id)
            if thread is not None and envelopes:
                while thread.tail and thread.tail[0].seq <= envelopes[-1].seq:
                    thread.tail.popleft()

    def _unstored(self, batch: dict[str, list[LoggedEnvelope]]) -> None:
        """A run's end did not store `batch`: back to the write queue."""
        for thread_id, envelopes in batch.items():
            if not envelopes:
                continue
            thread = self._thread(thread_id)
            thread.stored = min(thread.stored, envelopes[0].seq - 1)
            for envelope in envelopes:
                self._queue.append((thread_id, envelope))
                thread.queued += 1
                self._sent += 1
        self._wake.set()

    async def flush(self) -> None:
        """Wait until every event numbered so far is written (or given up on)."""
        target = self._sent
        self._now.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._written >= target)

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            # Gather what comes in the next moments into the same batch: a token stream costs
            # a write or so, not one each, and threads streaming at once share theirs. A flush
            # does not wait.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), WINDOW if self.shared else ALONE_WINDOW)
            self._now.clear()
            self._wake.clear()
            # Only what is queued now: what comes while it is written gathers for the next
            # window (draining until empty wrote each token on its own while a run streamed).
            left = len(self._queue)
            while left:
                batch: dict[str, list[LoggedEnvelope]] = {}
                skipped: set[str] = set()
                count = min(left, PAGE)
                for _ in range(count):
                    thread_id, envelope = self._queue.popleft()
                    thread = self._threads.get(thread_id)
                    if thread is not None:
                        thread.queued -= 1
                        if envelope.seq <= thread.stored:
                            skipped.add(thread_id)  # its run's end stored it
                            continue
                    batch.setdefault(thread_id, []).append(envelope)
                left -= count
                if batch:
                    self._writing = set(batch)
                    try:
                        await self._store(batch)
                    finally:
                        self._writing = set()
                for thread_id in skipped:
                    self._forget_if_idle(thread_id)
                self._written += count
                async with self._progress:
                    self._progress.notify_all()

    async def _store(self, batch: dict[str, list[LoggedEnvelope]]) -> None:
        delay = 0.2
        while True:
            try:
                await self._log.append(batch)
                break
            except Unavailable as exc:
                # A full disk or PostgreSQL away: the events wait here until the database is
                # back, and so do their readers.
                log.warning("writing %d thread(s)' events: %s", len(batch), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                if len(batch) > 1:
                    # One thread's trouble (deleted as it was written) is not the others'.
                    for thread_id, envelopes in batch.items():
                        await self._store({thread_id: envelopes})
                    return
                log.exception("could not write events of thread %s", next(iter(batch), None))
                break
        self._stored(batch)
        for thread_id in batch:
            self._forget_if_idle(thread_id)

    def _forget_if_idle(self, thread_id: str) -> None:
        thread = self._threads.get(thread_id)
        # Without tapes or readers, a thread needs nothing here (the log has the `seq`); with
        # readers elsewhere, the remote count must survive.
        if thread is not None and thread.idle():
            del self._threads[thread_id]
            if not self.shared and thread.numbered:
                # Alone on its database, this process numbered everything the log has: the
                # thread's next run need not read where to go on from.
                self._recent[thread_id] = thread.numbered
                if len(self._recent) > RECENT:
                    self._recent.popitem(last=False)

    def _thread(self, thread_id: str) -> HubThread:
        thread = self._threads.get(thread_id)
        if thread is None:
            thread = self._threads[thread_id] = HubThread()
            if (known := self._recent.pop(thread_id, None)) is not None:
                thread.seq = thread.numbered = known
        return thread
