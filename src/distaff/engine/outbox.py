"""Batches of stream events on their way to another process, written in order off the
publisher's path: events that arrive while a batch is being written form the next one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from distaff.engine.broker import StreamEvent

log = logging.getLogger("distaff.relay")

#: `(run_id, thread_id, event)`.
Entry = tuple[str, str, StreamEvent]


class BatchWriter:
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
