"""Numbering, storing and delivering a thread's v2 events.

Every event gets the next `seq` of its thread, assigned once where the run executes, so all
connections, transports, processes and restarts agree on it and `since` means the same thing
everywhere. A reader here gets events from memory as they are numbered, as a v1 stream does.
The events are written to the backend's `EventLog` off the run's path: in batches over all
threads, gathered for up to `WINDOW` while other processes share the log, `ALONE_WINDOW`
when this process is alone on its database (the log serves replays and restarts only); a run's
end stores what is still unwritten of its thread in the transaction that records the end
(`Tape.end`), so the log has a run's end exactly when the run is recorded as ended. A reader
anywhere reads the log: when it joins (the replay), when the database says the thread has
news (another process executes the run), and at each heartbeat when processes share the
database (a lost notification costs a heartbeat, not an event).

Joining is gap-free without locks: a reader registers for live events and takes a copy of the
thread's `tail` (numbered, not yet known to be written) before it reads the log; an event is
dropped from the tail only after it is written, so each event is in the log, the copy or the
live queue. A reader delivers each `seq` once, in order.

A crash can lose what a running run showed and did not write yet (up to a window's worth).
The run's next attempt then numbers on from well past it (`RETRY_GAP`), so a client resuming
with the `since` of what it saw misses nothing of the new attempt and sees nothing twice.

The hub builds on `LogWriter` (log_writer.py: what it keeps per thread, the write queue); a
`Tape` (here) is a run's side of it, a `Reader` (reader.py) a stream's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from distaff.backends.base import LoggedEnvelope
from distaff.engine.protocol.filters import StreamFilter
from distaff.engine.protocol.log_writer import HubThread, LogWriter, Unnumbered
from distaff.engine.protocol.projection import Event, Namespace, RunProjection, Terminal
from distaff.engine.protocol.reader import Reader
from distaff.engine.protocol.wire import wire_dumps
from distaff.errors import Unavailable

log = logging.getLogger("distaff.events")

#: How far past the log a retried run's attempt numbers on: more than a crashed process can
#: have shown and not written.
RETRY_GAP = 100_000


def _custom_name(method: str, data: Any) -> str | None:
    """The lane a custom event is on; without NULs, which PostgreSQL's text refuses (the event
    itself keeps them: its line is bytes)."""
    if method == "custom" and isinstance(data, dict) and isinstance(data.get("name"), str):
        return str(data["name"]).replace("\x00", "")
    return None


class EventHub(LogWriter):
    def share(self, watch: Callable[[str, bool], Awaitable[None]]) -> None:
        self._watch = watch

    # -- writing ------------------------------------------------------------------------------

    def watched(self, thread_id: str) -> bool:
        """Whether a v2 stream, here or elsewhere, follows the thread."""
        thread = self._threads.get(thread_id)
        return thread is not None and bool(thread.readers or thread.remote)

    def tape(
        self,
        run_id: str,
        thread_id: str,
        graph_name: str,
        *,
        retried: bool = False,
        checkpoints: bool = False,
    ) -> Tape:
        """A run's projection onto its thread; `retried`: an attempt after one that stopped
        without an end (it may have shown events the log never got); `checkpoints`: its
        stream carries checkpoints."""
        thread = self._thread(thread_id)
        if (thread.tapes == 0 and self.shared and not thread.unnumbered) or retried:
            # The thread's last run may have executed elsewhere: number on from the log.
            thread.seq = None
            thread.jump = thread.jump or retried
        thread.tapes += 1
        if thread.seq is None and thread.loading is None:
            # Read where to number on from now, while the graph starts: its first token
            # then need not wait for the database.
            thread.loading = asyncio.create_task(self._load(thread_id, thread))
        return Tape(self, run_id, thread_id, RunProjection(graph_name, checkpoints=checkpoints))

    def _emit(
        self,
        thread_id: str,
        run_id: str,
        events: list[Event],
        hold: list[LoggedEnvelope] | None = None,
    ) -> None:
        thread = self._thread(thread_id)
        ms = time.time_ns() // 1_000_000
        if thread.seq is None:
            thread.unnumbered.extend((run_id, m, ns, data, ms, hold) for m, ns, data in events)
            if thread.loading is None:
                thread.loading = asyncio.create_task(self._load(thread_id, thread))
            return
        for method, ns, data in events:
            self._number(thread_id, thread, (run_id, method, ns, data, ms, hold))

    async def _load(self, thread_id: str, thread: HubThread) -> None:
        delay = 0.2
        while True:
            try:
                last = await self._log.last_seq(thread_id)
                break
            except Unavailable as exc:
                log.warning("thread %s: reading its event log: %s", thread_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        # Events of an earlier attempt may still be on their way to the log.
        thread.numbered = max(last, thread.numbered)
        thread.seq = thread.numbered + (RETRY_GAP if thread.jump else 0)
        thread.loading, thread.jump = None, False
        pending, thread.unnumbered = thread.unnumbered, []
        for item in pending:
            self._number(thread_id, thread, item)

    def _number(self, thread_id: str, thread: HubThread, item: Unnumbered) -> None:
        run_id, method, ns, data, ms, hold = item
        assert thread.seq is not None
        thread.seq += 1
        seq = thread.numbered = thread.seq
        line = wire_dumps(
            {
                "type": "event",
                "event_id": f"{run_id}.{seq}",
                "seq": seq,
                "method": method,
                "params": {"namespace": list(ns), "timestamp": ms, "data": data},
            }
        )
        envelope = LoggedEnvelope(seq, run_id, method, ns, _custom_name(method, data), line)
        thread.tail.append(envelope)
        self._queue.append((thread_id, envelope))
        thread.queued += 1
        self._sent += 1
        self._wake.set()
        if hold is not None:
            hold.append(envelope)
            return
        for reader in thread.readers:
            reader.push(envelope)

    async def _release(self, thread_id: str) -> None:
        thread = self._threads.get(thread_id)
        if thread is None:
            return
        if thread.loading is not None:
            await asyncio.shield(thread.loading)
        await self.flush()
        await self._done(thread_id, thread)

    async def _done(self, thread_id: str, thread: HubThread) -> None:
        thread.tapes -= 1
        if thread.seq is not None and thread.seq > self._keep:
            with contextlib.suppress(Exception):
                await self._log.trim(thread_id, self._keep)
        self._forget_if_idle(thread_id)

    def known_seq(self, thread_id: str) -> int | None:
        """The thread's last `seq` if this process knows it without the log: it numbers the
        thread's events now, or it is alone on its database and has numbered them."""
        thread = self._threads.get(thread_id)
        if thread is not None and thread.seq is not None and (thread.tapes or not self.shared):
            return thread.numbered
        return None if self.shared else self._recent.get(thread_id)

    def fresh(self, thread_id: str) -> None:
        """The thread is being created: alone on its database, this process knows its log is
        empty without asking (the first event of its first run then waits for nothing)."""
        if self.shared:
            return
        thread = self._threads.get(thread_id)
        if thread is None:
            self._recent.setdefault(thread_id, 0)
        elif thread.seq is None and thread.loading is None and not thread.unnumbered:
            thread.seq = thread.numbered  # a stream opened before the thread existed

    # -- reading ------------------------------------------------------------------------------

    async def subscribe(self, thread_id: str, since: int, wanted: StreamFilter | None) -> Reader:
        """A reader of the thread's events after `since` (0: all that are kept), then live."""
        thread = self._thread(thread_id)
        reader = Reader(self, thread_id, since, wanted)
        first = not thread.readers
        thread.readers.add(reader)
        reader.queue.extend(thread.tail)
        if first and self._watch is not None:
            with contextlib.suppress(Exception):
                await self._watch(thread_id, True)
        return reader

    async def unsubscribe(self, reader: Reader) -> None:
        thread = self._threads.get(reader.thread_id)
        if thread is None or reader not in thread.readers:
            return
        thread.readers.discard(reader)
        if not thread.readers and self._watch is not None:
            with contextlib.suppress(Exception):
                await self._watch(reader.thread_id, False)
        self._forget_if_idle(reader.thread_id)

    async def read(self, thread_id: str, after: int, limit: int) -> list[LoggedEnvelope]:
        return await self._log.read(thread_id, after, limit)

    def on_news(self, thread_id: str) -> None:
        """Another process wrote events of this thread to the log."""
        thread = self._threads.get(thread_id)
        for reader in thread.readers if thread else ():
            reader.pull()

    def on_lost_news(self) -> None:
        """Notifications may have been missed: every reader looks at the log."""
        for thread in self._threads.values():
            for reader in thread.readers:
                reader.pull()

    def forget_remote(self) -> None:
        """Count no reader elsewhere (before asking the other processes again)."""
        for thread_id, thread in list(self._threads.items()):
            thread.remote = 0
            self._forget_if_idle(thread_id)

    def on_watch(self, thread_id: str, watching: bool) -> None:
        thread = self._thread(thread_id)
        thread.remote = max(0, thread.remote + (1 if watching else -1))
        self._forget_if_idle(thread_id)

    def unwritten(self, thread_id: str) -> list[LoggedEnvelope]:
        """The thread's events numbered here and not yet known to be written: a command
        reading the log reads these too (a client here may have seen them)."""
        thread = self._threads.get(thread_id)
        return list(thread.tail) if thread is not None else []


class Tape:
    """One run's projection onto its thread's stream."""

    def __init__(
        self, hub: EventHub, run_id: str, thread_id: str, projection: RunProjection
    ) -> None:
        self._hub = hub
        self.run_id = run_id
        self.thread_id = thread_id
        self.projection = projection
        self._closed = False
        #: Between `end` and `stored`: what `end` took from the write queue.
        self._ending = False
        self._taken: dict[str, list[LoggedEnvelope]] = {}
        #: The run's last events, written but not yet shown here (`deliver`).
        self._held: list[LoggedEnvelope] = []

    def start(self) -> None:
        self._hub._emit(self.thread_id, self.run_id, self.projection.start())

    def feed(self, namespace: Namespace, mode: str, data: Any) -> None:
        if events := self.projection.feed(namespace, mode, data):
            self._hub._emit(self.thread_id, self.run_id, events)

    async def close(
        self, status: Terminal, error: str | None, pending: list[tuple[str, Any]]
    ) -> None:
        """The run's end, written on its own before the run is recorded as ended (a run whose
        end is recorded otherwise, as it fails); `end` and `stored` are the usual way."""
        if self._closed:
            return
        self._closed = True
        end = self.projection.end(status, error, pending)
        self._hub._emit(self.thread_id, self.run_id, end, hold=self._held)
        await self._hub._release(self.thread_id)

    async def end(
        self, status: Terminal, error: str | None, pending: list[tuple[str, Any]]
    ) -> dict[str, list[LoggedEnvelope]]:
        """The run's end: its terminal events, numbered, with every event of the thread not
        yet written, for the transaction that records the run's end to store, so the log has
        the end exactly when the run is recorded as ended (and the run's end waits for no
        write of its own). Then `stored`. Readers here get the end from `deliver`, once the
        run's end is recorded: a client told the run ended finds the thread no longer busy.
        The next run on the thread, wherever it executes, numbers on from there."""
        if self._closed:
            return {}
        self._closed = self._ending = True
        end = self.projection.end(status, error, pending)
        self._hub._emit(self.thread_id, self.run_id, end, hold=self._held)
        self._taken = await self._hub._unwritten(self.thread_id)
        return self._taken

    async def stored(self, *, taken: bool) -> None:
        """The run's end is recorded; `taken`: with what `end` gave, in the same transaction
        (else the write queue gets it back)."""
        if not self._ending:
            return
        self._ending = False
        if taken:
            self._hub._stored(self._taken)
        else:
            self._hub._unstored(self._taken)
        thread = self._hub._threads.get(self.thread_id)
        if thread is not None:
            await self._hub._done(self.thread_id, thread)

    def deliver(self) -> None:
        held, self._held = self._held, []
        thread = self._hub._threads.get(self.thread_id)
        for envelope in held:
            for reader in thread.readers if thread is not None else ():
                reader.push(envelope)

    def abandon(self) -> None:
        """The run stopped here without an end (a shutdown hands it back, another process
        took it over): no terminal; its next attempt starts again with `running`. (After an
        end, what it holds goes out.)"""
        if self._ending:
            # The record of its end failed: what the end took goes back to the write queue.
            self._hub._unstored(self._taken)
        if not self._closed or self._ending:
            self._closed, self._ending = True, False
            thread = self._hub._threads.get(self.thread_id)
            if thread is not None:
                thread.tapes -= 1
        self.deliver()
