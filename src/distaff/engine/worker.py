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
import logging

from langgraph.errors import GraphDrained

from distaff.backends.base import RunRepo
from distaff.engine.executor import Executor, RunHandle, until_stored
from distaff.errors import LeaseLost, Unavailable
from distaff.models import CancelAction, Run
from distaff.observability.runs import ObservedRun

log = logging.getLogger("distaff.worker")


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
        #: Slots kept for runs being inserted here to be taken at insert (`reserve`).
        self._reserved = 0
        #: Slots a claim on its way may fill.
        self._claiming = 0

    @property
    def slots(self) -> int:
        return self._slots

    @property
    def active(self) -> int:
        return len(self._active)

    def wake(self) -> None:
        self._wake.set()

    def executes(self, run_id: str) -> bool:
        return run_id in self._active

    # -- runs taken at insert ------------------------------------------------------------------
    # A run created here while a slot is free goes into the database claimed by this process
    # (`RunRepo.insert(take=True)`) and starts at once: no wake-up, no claim statement, no turn
    # of the worker's loop. The slot is kept while the insert is on its way, so the loop
    # cannot give it to a claim meanwhile.

    def reserve(self) -> bool:
        """Keep a slot for a run about to be inserted; False if none is free (or stopping)."""
        if self._stopping or self._loop_task is None:
            return False
        if len(self._active) + self._reserved + self._claiming >= self._slots:
            return False
        self._reserved += 1
        return True

    def release(self) -> None:
        """The kept slot was not used (the run went in pending, or not at all)."""
        self._reserved -= 1
        self._wake.set()  # a claim may have found the worker full meanwhile

    def adopt(self, run: Run) -> None:
        """Execute a run the database recorded as taken by this process at insert (attempt 1),
        in the slot `reserve` kept for it."""
        self._reserved -= 1
        handle = RunHandle({**run, "status": "running"}, 1)
        self._start(handle)

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
        # Inserts that kept a slot are on their way (one statement each): their runs, if taken,
        # are drained like the rest.
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while self._reserved > 0 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.005)
        drained = sum(handle.drain() for handle in self._active.values())
        if drained:
            log.info("draining %d run(s) (up to %.1f s)", drained, grace_seconds)
        tasks = [h.task for h in self._active.values() if h.task is not None]
        if tasks:
            _, still_running = await asyncio.wait(tasks, timeout=grace_seconds)
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
            if len(self._active) >= self._slots:
                look_again = True
            self._active.pop(run_id, None)
            if look_again:
                self._wake.set()
