"""A stream's view of a thread's v2 events: what it reads from the log, and what the hub
(`EventHub`, hub.py) pushes to it as this process numbers them; each `seq` once, in order."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol

from distaff.backends.base import LoggedEnvelope
from distaff.engine.protocol.filters import StreamFilter
from distaff.errors import Unavailable

#: Log rows per read, and events per write.
PAGE = 500


class Source(Protocol):
    """What a reader reads from: the `EventHub` (hub.py) that made it."""

    @property
    def shared(self) -> bool:
        """Whether other processes write this log too."""

    async def read(self, thread_id: str, after: int, limit: int) -> list[LoggedEnvelope]: ...


class Reader:
    """One stream's view of a thread: `batch()` gives the next events it wants, in order."""

    def __init__(
        self, hub: Source, thread_id: str, since: int, wanted: StreamFilter | None
    ) -> None:
        self._hub = hub
        self.thread_id = thread_id
        #: The highest `seq` looked at (delivered or filtered out).
        self.cursor = since
        self.wanted = wanted
        self.queue: deque[LoggedEnvelope] = deque()
        #: What `batch` waits on, while it waits.
        self._waiter: asyncio.Future[None] | None = None
        self._from_log = True
        self._gap_checked = False

    def push(self, envelope: LoggedEnvelope) -> None:
        self.queue.append(envelope)
        self._wake()

    def pull(self) -> None:
        self._from_log = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _take(
        self, envelopes: list[LoggedEnvelope] | deque[LoggedEnvelope]
    ) -> list[LoggedEnvelope]:
        out = []
        for envelope in envelopes:
            if envelope.seq <= self.cursor:
                continue
            self.cursor = envelope.seq
            if self.wanted is None or self.wanted.matches(envelope):
                out.append(envelope)
        return out

    async def batch(self, timeout: float) -> list[LoggedEnvelope]:
        """The next events this reader wants (in `seq` order); empty after `timeout`.

        With the database away, a read of the log is tried again at the next call, and the
        stream waits: a reader never skips a `seq` the log may hold."""
        deadline = time.monotonic() + timeout
        log_down = False
        while True:
            if self._from_log and not log_down:
                try:
                    rows = await self._hub.read(self.thread_id, self.cursor, PAGE)
                except Unavailable:
                    log_down = True
                    continue
                self._from_log = len(rows) == PAGE
                if out := self._take(rows):
                    return out
                continue
            if self.queue and not (self._from_log and self.queue[0].seq > self.cursor + 1):
                if self.queue[0].seq > self.cursor + 1 and not self._gap_checked:
                    # Numbered elsewhere first (or before this reader joined): the log has
                    # what comes between. If it has not, the gap is real (events lost to a
                    # write error) and the queue goes on.
                    self._gap_checked = True
                    self._from_log = True
                    continue
                self._gap_checked = False
                items = list(self.queue)
                self.queue.clear()
                if out := self._take(items):
                    return out
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if self._hub.shared:
                    self._from_log = True  # the next call looks at the log, in case
                return []
            await self._wait(remaining)

    async def _wait(self, timeout: float) -> None:
        """Until something is pushed or pulled, or `timeout`. A bare future and a timer: a
        token wakes its stream in one turn of the loop (`asyncio.wait_for` would make a task
        per wait and take three)."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
