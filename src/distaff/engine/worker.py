"""The queue worker: claims due runs as soon as there is a free slot and a reason to look.

Wake-ups are events (a run was enqueued, a run ended); a timer is only the floor, set to the
next scheduled run or the poll interval. So a lone run starts at once, not on the next tick.

On a database shared by several processes a claim is a lease: the worker renews it for every
run it executes (learning of cancels sent while its relay was away, too), and stops a run
whose lease was lost, since another process may be executing it by now.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.errors import GraphDrained

from distaff.backends.base import RunRepo
from distaff.engine.executor import Executor, RunHandle, until_stored
from distaff.errors import (
    Conflict,
    InvalidInput,
    LeaseLost,
    NotFound,
    StaleAssistant,
    Unavailable,
)
from distaff.models import CancelAction, Run
from distaff.observability.runs import ObservedRun
from distaff.serde import dumps, loads

log = logging.getLogger("distaff.worker")

#: Refusals raised before an insert wrote anything (a missing or busy thread, a stale
#: assistant, a value the database cannot take): the slot goes back and that is all.
NOTHING_STORED = (Conflict, NotFound, StaleAssistant, InvalidInput)


class Worker:
    def __init__(
        self,
        runs: RunRepo,
        executor: Executor,
        *,
        slots: int,
        poll_seconds: float,
        lease_seconds: float | None = None,
    ) -> None:
        self._runs = runs
        self._executor = executor
        #: Tokens the runs executed here used, for `/metrics`.
        self.usage = executor.usage
        self._slots = slots
        self._poll = poll_seconds
        self._lease = lease_seconds
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._active: dict[str, RunHandle] = {}
        #: Cancels that arrived while the run was claimed but its task not yet started.
        self._early_cancels: dict[str, CancelAction] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        #: Slots kept for runs being inserted here to be taken at insert (`reserve`), and the
        #: inserts on their way (with any hand-back of one that failed midway).
        self._reserved = 0
        self._inserting: set[asyncio.Future[Any]] = set()
        #: Slots a claim on its way may fill.
        self._claiming = 0
        #: The last claim took every run due for this worker and no wake-up came since; and
        #: when (loop time) the next scheduled run becomes due, if any is known.
        self._queue_clear = False
        self._due_at: float | None = None

    @property
    def slots(self) -> int:
        return self._slots

    @property
    def active(self) -> int:
        return len(self._active)

    def wake(self) -> None:
        self._queue_clear = False  # something may be due: claimed before any run is taken
        self._wake.set()

    def executes(self, run_id: str) -> bool:
        return run_id in self._active

    # -- runs taken at insert ------------------------------------------------------------------
    # A run created here while a slot is free goes into the database claimed by this process
    # (`RunRepo.insert(take=True)`) and starts at once: no wake-up, no claim statement, no turn
    # of the worker's loop. The slot is kept while the insert is on its way, so the loop
    # cannot give it to a claim meanwhile. Only while the queue is known to hold nothing due
    # for this worker (its last claim took less than it could, with no wake-up since): a new
    # run never overtakes one that waited for a slot.

    def reserve(self) -> bool:
        """Keep a slot for a run about to be inserted; False if none is free, the queue may
        hold runs due before it, or the worker is stopping."""
        if self._stopping or self._loop_task is None or not self._queue_clear:
            return False
        if self._due_at is not None and asyncio.get_running_loop().time() >= self._due_at:
            return False  # a scheduled run is due: the loop claims it first
        if len(self._active) + self._reserved + self._claiming >= self._slots:
            return False
        self._reserved += 1
        return True

    async def insert_taken(self, run: Run, insert: Callable[[], Awaitable[list[str]]]) -> list[str]:
        """`insert` (of `run`, with `take`) in the slot `reserve` kept; the run starts here if
        the database recorded it taken (nothing active on its thread), else the slot goes back.

        The insert goes on if the caller is cancelled (a client gone, a shutdown): its outcome
        decides either way, so a run that went in taken is never left running with no one
        executing it. An insert that failed with its outcome unknown (the connection lost
        around the commit) is handed back to the queue, in case it went in."""
        try:
            stored = loads(dumps(run))  # executed from its JSON, as a claimed run is
            stored["status"] = "running"
        except BaseException:
            self._reserved -= 1  # nothing was sent
            raise
        task = asyncio.ensure_future(insert())
        self._inserting.add(task)
        task.add_done_callback(functools.partial(self._inserted, stored))
        return await asyncio.shield(task)

    def _inserted(self, run: Run, task: asyncio.Future[list[str]]) -> None:
        self._inserting.discard(task)
        self._reserved -= 1
        exc = None if task.cancelled() else task.exception()
        if not task.cancelled() and exc is None and not task.result():
            self._start(RunHandle(run, 1))
            if self._stopping:  # adopted after `stop` began: drained with the rest
                self._active[run["run_id"]].drain()
            return
        self._wake.set()  # the slot is free again: a claim may have found the worker full
        if task.cancelled() or (exc is not None and not isinstance(exc, NOTHING_STORED)):
            run_id = run["run_id"]
            log.warning("run %s: its insert failed midway (%r); handing it back", run_id, exc)
            handing = asyncio.ensure_future(
                until_stored(lambda: self._runs.requeue(run_id), f"run {run_id}: handing it back")
            )
            self._inserting.add(handing)
            handing.add_done_callback(self._inserting.discard)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run_loop(), name="distaff-worker")
        if self._lease is not None:
            self._heartbeat_task = asyncio.create_task(
                self._heartbeat_loop(self._lease / 3), name="distaff-heartbeat"
            )

    async def stop(self, grace_seconds: float) -> None:
        """Stop claiming and drain: each running run stops at its graph's next step boundary
        (the step that runs finishes, its checkpoint saved) and goes back to the queue, to
        resume at that step in another process or on the next start, with no node run twice.
        Runs still going after `grace_seconds` (a long node, a stateless run) are cut and handed
        back as they are: they resume from their last checkpoint, their current step again."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        drained = sum(handle.drain() for handle in self._active.values())
        if drained:
            log.info("draining %d run(s) (up to %.1f s)", drained, grace_seconds)
        # Inserts holding a slot are on their way: a run one of them took is drained as it
        # starts (`_inserted`), and waited for with the rest.
        if self._inserting:
            await asyncio.wait(list(self._inserting), timeout=max(0.0, deadline - loop.time()))
        tasks = [h.task for h in self._active.values() if h.task is not None]
        if tasks:
            _, still_running = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
            for task in still_running:
                task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)
        if self._heartbeat_task is not None:  # last: runs keep their leases while draining
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task

    def cancel(self, run_id: str, action: CancelAction) -> None:
        """Stop a run executing here (or about to: the action waits for its task)."""
        handle = self._active.get(run_id)
        if handle is None:
            self._early_cancels[run_id] = action
            return
        if handle.action is not None:
            return  # cancelled already (a cancel may arrive locally and through the relay)
        handle.action = action
        if handle.streaming and handle.task is not None:
            handle.task.cancel()

    async def _run_loop(self) -> None:
        while not self._stopping:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Unavailable as exc:  # the claim is a write: wait for the database
                log.warning("the queue cannot be read: %s; trying again", exc)
                await asyncio.sleep(self._poll)
            except Exception:  # never let the one queue consumer die silently
                log.exception("the worker loop failed; continuing")
                await asyncio.sleep(self._poll)

    async def _step(self) -> None:
        free = self._slots - len(self._active) - self._reserved
        if free <= 0:
            # Wake-ups while full are answered when a slot frees (which wakes again).
            self._wake.clear()
            await self._wait(None)
            return
        self._wake.clear()
        self._claiming = free
        try:
            claim = await self._runs.claim(free)
        finally:
            self._claiming = 0
        # Taken at insert from now on only if this claim left nothing due behind (a wake-up
        # meanwhile, set again, says otherwise).
        self._queue_clear = len(claim.runs) < free and not self._wake.is_set()
        loop = asyncio.get_running_loop()
        self._due_at = None if claim.next_due_in is None else loop.time() + claim.next_due_in
        for run, attempt in claim.runs:
            self._start(RunHandle(run, attempt, exported=run["run_id"] in claim.read_elsewhere))
        if not claim.runs and not self._reserved:
            self._early_cancels.clear()
        if len(claim.runs) < free:
            # Everything claimable was taken: nothing to do until a wake-up or the next due run.
            await self._wait(claim.next_due_in)

    def _start(self, handle: RunHandle) -> None:
        run_id = handle.run["run_id"]
        handle.action = self._early_cancels.pop(run_id, None)
        handle.task = asyncio.create_task(self._execute(handle), name=f"distaff-run-{run_id}")
        self._active[run_id] = handle

    async def _wait(self, due_in: float | None) -> None:
        timeout = self._poll if due_in is None else min(self._poll, max(due_in, 0.001))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _heartbeat_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if not self._active:
                continue
            sent = list(self._active)
            try:
                held = await self._runs.heartbeat(sent)
            except Exception as exc:  # the lease is not lost yet; the next beat tries again
                log.warning("could not renew the leases of %d run(s): %s", len(sent), exc)
                continue
            for run_id in sent:
                handle = self._active.get(run_id)
                if handle is None:
                    continue  # ended meanwhile
                if run_id not in held:
                    # Only while its graph streams: a run that is recording its end finished
                    # the row itself, and recording is fenced by owner anyway.
                    if handle.streaming and handle.task is not None:
                        log.warning("run %s lost its lease; stopping it here", run_id)
                        handle.task.cancel()
                elif (action := held[run_id]) is not None:
                    self.cancel(run_id, action)

    async def _execute(self, handle: RunHandle) -> None:
        run_id = handle.run["run_id"]
        # Whether the queue may hold a run this worker can take once this one ends. Not after
        # a plain end: everything claimable was claimed when a wake-up last came, unless the
        # worker was full then or the ended run had others queued behind it on its thread.
        look_again = True
        try:
            with ObservedRun(handle):  # its log lines and span; its ids on every line
                look_again = await self._executor.execute(handle) == "busy"
        except (asyncio.CancelledError, GraphDrained):
            # A shutdown drained the run (stopped between two steps), or it (or a lost lease)
            # cancelled the task outside a client's cancel: hand the run back, to go on from its
            # last checkpoint; `requeue` does nothing if another process owns it by now.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._runs.requeue(run_id))
        except LeaseLost:
            log.warning("run %s: lease lapsed; left to the process that took it over", run_id)
        except Unavailable as exc:
            # The database failed the run, not its graph: give it back to the queue (once the
            # database takes writes again) to resume from its last checkpoint.
            log.warning("run %s: the database is unavailable (%s); handing it back", run_id, exc)
            with contextlib.suppress(asyncio.CancelledError):
                await until_stored(
                    lambda: self._runs.requeue(run_id), f"run {run_id}: handing it back"
                )
            look_again = True
        except Exception as exc:
            log.exception("run %s could not be recorded", run_id)
            with contextlib.suppress(Exception):
                await self._executor.fail(handle, exc)
        finally:
            if len(self._active) + self._reserved >= self._slots:
                look_again = True  # a claim may have found the worker full meanwhile
            self._active.pop(run_id, None)
            if look_again:
                self.wake()
