"""This process's part among several sharing one database (`Peers` over the backend's relay):
it answers the relay's signals, sends the events others read, and lets the services read runs
that execute elsewhere.

A run's events reach a reader in another process through the run's event log: the executing
process logs them when it knows someone elsewhere reads (the run's creator streams or waits for
it, or a later reader sent a watch) and always for a resumable run. The reader's process keeps
a mirror of the run in its own broker, fed by reading the log after a cursor, so replay,
`Last-Event-ID` and live delivery work exactly as for a local run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from distaff.backends.base import RunRepo
from distaff.backends.relay import Relay
from distaff.engine.broker import Broker
from distaff.engine.peers import Solo
from distaff.engine.protocol.hub import EventHub
from distaff.engine.worker import Worker
from distaff.events import END_EVENT, StreamEvent
from distaff.models import ACTIVE_RUN_STATUSES, CancelAction, Page, RunOutcome
from distaff.serde import dumps

log = logging.getLogger("distaff.cluster")

#: How many of a thread's latest runs a thread-stream rejoin replays from the event log.
THREAD_REPLAY_RUNS = 20


class Cluster:
    def __init__(self, relay: Relay, broker: Broker, runs: RunRepo, events: EventHub) -> None:
        self._relay = relay
        self._broker = broker
        self._worker: Worker | None = None
        self._runs = runs
        self._events = events
        self._locks: dict[str, asyncio.Lock] = {}
        #: Between `start` and `stop`: events go to the relay.
        self._open = False
        #: Runs and threads that other processes read: their events are sent.
        self._exported: set[str] = set()
        self._exported_threads: Counter[str] = Counter()
        #: Runs some of whose events were sent (their log ends with `END_EVENT`).
        self._logged: set[str] = set()
        #: What this process told the others it watches (`thread:`/`events:` keys, counted
        #: as sent; runs followed elsewhere), to tell a process that starts later.
        self._watching: Counter[str] = Counter()
        self._followed: set[str] = set()

    async def start(self, worker: Worker | None) -> None:
        """Start listening to the other processes, for this process's worker (if it runs one)."""
        self._worker = worker
        self._open = True
        self._broker.outbox = self

        async def watch(thread_id: str, watching: bool) -> None:
            await self._watch(f"events:{thread_id}", watching)

        self._events.share(watch)
        await self._relay.start(self)
        # The others' watches sent before this process listened would never reach it: a
        # worker started by a deploy would not send the events of a thread a client follows.
        await self._relay.hello()

    async def _watch(self, key: str, watching: bool) -> None:
        self._watching[key] += 1 if watching else -1
        if self._watching[key] <= 0:
            del self._watching[key]
        await self._relay.watch(key, watching)

    async def stop(self) -> None:
        await self._relay.stop()
        self._open = False
        self._broker.outbox = Solo()

    def _local(self, run_id: str) -> bool:
        return self._worker is not None and self._worker.executes(run_id)

    # -- for the broker and the executor -------------------------------------------------------

    def wants(self, run_id: str, thread_id: str, *, resumable: bool) -> bool:
        # A resumable stream can be resumed from any process: its events are all logged.
        return self._open and (resumable or self._exported_by(run_id, thread_id))

    def _exported_by(self, run_id: str, thread_id: str) -> bool:
        return run_id in self._exported or thread_id in self._exported_threads

    def send(self, run_id: str, thread_id: str, event: StreamEvent) -> None:
        self._relay.send(run_id, thread_id, event)
        self._logged.add(run_id)

    def export(self, run_id: str) -> None:
        self._exported.add(run_id)

    def forget(self, run_id: str) -> None:
        self._exported.discard(run_id)
        self._logged.discard(run_id)

    async def end_log(self, run_id: str, outcome: RunOutcome) -> None:
        """Close a run's event log with its outcome, if anything was logged or anyone elsewhere
        reads it, and wait until the log is written: readers elsewhere learn that the run
        ended from the database, and must find its last events there by then."""
        thread_id = self._broker.thread_of(run_id)
        if not self._open or thread_id is None:
            return
        if run_id not in self._logged and not self._exported_by(run_id, thread_id):
            return
        body = {
            "status": outcome.status,
            "values": outcome.values,
            "error": outcome.error,
            "usage": outcome.usage,
        }
        self._relay.send(
            run_id, thread_id, StreamEvent(END_EVENT, dumps(body), self._broker.new_id())
        )
        self.forget(run_id)
        await self._relay.flush()

    # -- for the services ---------------------------------------------------------------------

    async def follow(self, run_id: str, thread_id: str, *, events: bool) -> None:
        """Before subscribing to a run that may execute elsewhere: ask for its events (a
        reader of the outcome only needs the end, which every process hears of) and bring
        the local mirror up to date, so a replay sees what was logged so far."""
        if self._local(run_id):
            return
        if events:
            self._followed.add(run_id)
            await self._relay.watch(f"run:{run_id}", True)
        await self.sync(run_id, thread_id)

    async def follow_thread(self, thread_id: str, *, replay: bool) -> None:
        await self._watch(f"thread:{thread_id}", True)
        if replay:
            for run in await self._runs.list_for_thread(thread_id, Page(THREAD_REPLAY_RUNS, 0)):
                if not self._local(run["run_id"]):
                    await self.sync(run["run_id"], thread_id)

    async def unfollow_thread(self, thread_id: str) -> None:
        with contextlib.suppress(Exception):
            await self._watch(f"thread:{thread_id}", False)

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        """Stop a running run wherever it executes."""
        await self._relay.cancel(run_id, action)

    async def sync(self, run_id: str, thread_id: str) -> None:
        """Read the run's log past the mirror's cursor into the broker (one reader at a time,
        so no event is delivered twice)."""
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        try:
            async with lock:
                logged = await self._relay.read(run_id, self._broker.cursor(run_id))
                # The run may have been claimed here while its log was read: its events are
                # published here then, and the log holds copies of them. (Once it ended here,
                # its outcome makes `ingest` skip them.)
                if logged and not self._local(run_id):
                    self._broker.ingest(run_id, thread_id, logged)
        finally:
            if not lock.locked() and self._locks.get(run_id) is lock:
                del self._locks[run_id]

    # -- the relay's signals ------------------------------------------------------------------

    def on_wake(self) -> None:
        if self._worker is not None:
            self._worker.wake()

    def on_cancel(self, run_id: str, action: CancelAction) -> None:
        if self._worker is not None and self._worker.executes(run_id):
            self._worker.cancel(run_id, action)

    def on_watch(self, key: str, watching: bool) -> None:
        kind, _, ident = key.partition(":")
        if kind == "run" and watching:
            self.export(ident)
        elif kind == "thread":
            self._exported_threads[ident] += 1 if watching else -1
            if self._exported_threads[ident] <= 0:
                del self._exported_threads[ident]
        elif kind == "events":
            self._events.on_watch(ident, watching)

    async def on_hello(self, sender: str) -> None:
        open_runs = set(self._broker.open_runs())
        self._followed &= open_runs  # runs that ended need no events any more
        # A key as many times as it was watched here: the new process counts each.
        keys = [k for k, n in self._watching.items() for _ in range(n)]
        for key in [*keys, *(f"run:{run_id}" for run_id in self._followed)]:
            await self._relay.rewatch(sender, key)

    async def on_thread_events(self, thread_id: str) -> None:
        self._events.on_news(thread_id)

    async def on_events(self, run_id: str, thread_id: str) -> None:
        if not self._local(run_id) and self._broker.reads(run_id, thread_id):
            await self.sync(run_id, thread_id)

    async def on_end(self, run_id: str, thread_id: str, status: str) -> None:
        if self._local(run_id):
            return  # this process records and announces its own runs' ends
        self.forget(run_id)
        if not self._broker.has_channel(run_id) or self._broker.outcome(run_id) is not None:
            return
        await self.sync(run_id, thread_id)  # the log ends with the full outcome, if logged
        self._broker.bind(run_id, thread_id)
        self._broker.settle(run_id, status)

    async def on_reconnect(self) -> None:
        """Notifications may have been lost: look at every run mirrored here, and hear again
        what the others watch (a watch sent meanwhile was lost)."""
        # What the others watch is counted afresh from their answers.
        self._exported_threads.clear()
        self._events.forget_remote()
        await self._relay.hello()
        self.on_wake()
        self._events.on_lost_news()
        for run_id in self._broker.open_runs():
            if self._local(run_id):
                continue
            run = await self._runs.get(run_id)
            if run is None:
                await self.on_end(run_id, self._broker.thread_of(run_id) or "", "rollback")
            elif run["status"] not in ACTIVE_RUN_STATUSES:
                await self.on_end(run_id, run["thread_id"], run["status"])
            else:
                await self.sync(run_id, run["thread_id"])
