"""Run control shared by the services: wake the queue, cancel runs wherever they are."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from distaff.backends.base import Backend, CancelTarget
from distaff.engine.broker import Broker
from distaff.engine.peers import Peers
from distaff.engine.worker import Worker
from distaff.models import CancelAction, Run, RunOutcome


class RunControl:
    def __init__(
        self, backend: Backend, broker: Broker, worker: Worker | None, peers: Peers
    ) -> None:
        self._runs = backend.runs
        self._broker = broker
        self._worker = worker
        self._peers = peers

    def wake(self) -> None:
        if self._worker is not None:
            self._worker.wake()

    def reserve(self) -> bool:
        """Keep a slot of this process's worker for a run about to be inserted (see
        `Worker.reserve`); False if there is no worker here or no free slot."""
        return self._worker is not None and self._worker.reserve()

    async def insert_taken(self, run: Run, insert: Callable[[], Awaitable[list[str]]]) -> list[str]:
        """`insert` (with `take`) in the slot `reserve` kept (see `Worker.insert_taken`)."""
        assert self._worker is not None
        return await self._worker.insert_taken(run, insert)

    async def cancel(
        self,
        action: CancelAction,
        *,
        run_ids: Sequence[str] | None = None,
        thread_id: str | None = None,
        status: str | None = None,
    ) -> list[CancelTarget]:
        """Cancel matching active runs. Pending runs end at once (their streams close);
        running runs are stopped by the worker executing them, here or in another process, and
        flagged in the database so a cancel accepted just before a crash still holds after the
        restart (and reaches, with its next heartbeat, a worker the message missed)."""
        targets = await self._runs.request_cancel(
            action, run_ids=run_ids, thread_id=thread_id, status=status
        )
        for target in targets:
            if target.status == "running":
                local = self._worker is not None and self._worker.executes(target.run_id)
                if not local:
                    await self._peers.cancel(target.run_id, action)
                if self._worker is not None:
                    self._worker.cancel(target.run_id, action)
            else:
                self._broker.finish(
                    target.run_id,
                    RunOutcome("interrupted" if action == "interrupt" else "rollback"),
                )
        if targets:
            self.wake()
        return targets

    async def cancel_and_wait(
        self, action: CancelAction, *, thread_id: str, timeout: float = 10.0
    ) -> list[CancelTarget]:
        """Cancel a thread's active runs and wait (up to `timeout`) until the running ones have
        stopped, so nothing they still write lands after, say, their thread is deleted.
        Returns the runs it cancelled."""
        targets = await self.cancel(action, thread_id=thread_id)
        running = [t for t in targets if t.status == "running"]
        for target in running:
            await self._peers.follow(target.run_id, target.thread_id, events=False)
        subscriptions = [self._broker.subscribe(t.run_id, events=False) for t in running]
        try:
            async with asyncio.timeout(timeout):
                for subscription in subscriptions:
                    async for _ in subscription:
                        pass
        except TimeoutError:
            pass
        finally:
            for subscription in subscriptions:
                subscription.close()
        return targets
