"""Periodic upkeep: each job runs every `interval` seconds; a failing job is logged and tried
again next time, never taking the others (or the server) down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger("distaff.sweeper")

Job = Callable[[], Awaitable[int]]


class Sweeper:
    def __init__(self, interval: float, jobs: Sequence[tuple[str, Job]]) -> None:
        self._interval = interval
        self._jobs = list(jobs)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="distaff-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            for name, job in self._jobs:
                try:
                    swept = await job()
                except Exception:
                    log.exception("sweeping %s failed; trying again later", name)
                else:
                    if swept:
                        log.info("swept %d %s", swept, name)
