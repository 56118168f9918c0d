"""Periodic upkeep: each job runs on its own interval; a failing job is logged and tried again
next time, never taking the others (or the server) down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger("distaff.sweeper")

#: `(what it sweeps, every how many seconds, the job returning how many it swept)`.
Job = tuple[str, float, Callable[[], Awaitable[int]]]


class Sweeper:
    def __init__(self, jobs: Sequence[Job]) -> None:
        self._jobs = list(jobs)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(*job), name=f"distaff-sweep-{job[0]}")
            for job in self._jobs
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self, name: str, interval: float, job: Callable[[], Awaitable[int]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                swept = await job()
            except Exception:
                log.exception("sweeping %s failed; trying again later", name)
            else:
                if swept:
                    log.info("swept %d %s", swept, name)
