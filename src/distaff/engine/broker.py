"""In-process pub/sub for run events, with replay for resumable runs.

A run has a channel. Subscribers each get an unbounded queue; publishing serialises the payload
once and fans the bytes out. The HTTP handler subscribes *before* the run is enqueued, so the
first events cannot be missed. When the run ends, `finish` delivers its outcome and closes every
subscription. Events of a resumable run are also kept, and stay replayable for a while after the
run ends; replay and live delivery are joined without an await in between, so a rejoin with
`Last-Event-ID` sees each event exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from distaff.backends.relay import LoggedEvent
from distaff.engine.peers import Outbox, Solo
from distaff.events import END_EVENT, FROM_START, StreamEvent, parse_event_id
from distaff.models import RunOutcome
from distaff.serde import dumps, loads


def _order(event: StreamEvent) -> tuple[int, int]:
    return parse_event_id(event.id) or (-1, -1)


def _replay(history: Sequence[StreamEvent], after: str) -> Sequence[StreamEvent]:
    """The stored events of a run after the one whose id a client sent. An id that is not one
    of them (malformed, from another run, expired) replays nothing: the stream goes on live,
    as the reference server's does."""
    after = after.strip()
    if after in FROM_START:
        return history
    for index, event in enumerate(history):
        if event.id == after:
            return history[index + 1 :]
    return ()


class _IdClock:
    def __init__(self) -> None:
        self._ms = 0
        self._seq = 0

    def next(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms <= self._ms:
            self._seq += 1
        else:
            self._ms, self._seq = ms, 0
        return f"{self._ms}-{self._seq}"


_END = None


@dataclass(slots=True)
class _Channel:
    subscribers: set[asyncio.Queue[StreamEvent | None]] = field(default_factory=set)
    #: Readers of the outcome only (`/wait`, `/join`): they cost no event serialisation.
    watchers: set[asyncio.Queue[StreamEvent | None]] = field(default_factory=set)
    history: list[StreamEvent] = field(default_factory=list)
    outcome: RunOutcome | None = None
    expiry: asyncio.TimerHandle | None = None
    #: For a run executing in another process: how far its event log has been read, and the
    #: outcome its log ended with (delivered once the database says the run ended).
    cursor: str | None = None
    logged_outcome: RunOutcome | None = None


@dataclass(slots=True)
class _ThreadChannel:
    """Every run of one thread, for `GET /threads/{id}/stream`."""

    subscribers: set[asyncio.Queue[StreamEvent | None]] = field(default_factory=set)
    #: Replayable events (of resumable runs, and their lifecycle), with when they were kept.
    history: deque[tuple[float, StreamEvent]] = field(default_factory=lambda: deque(maxlen=5000))


class Subscription:
    """Events of one run for one reader; iterate it, then read `outcome`."""

    def __init__(self, broker: Broker, run_id: str, queue: asyncio.Queue[StreamEvent | None]):
        self._broker = broker
        self._run_id = run_id
        self._queue = queue
        self.outcome: RunOutcome | None = None

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamEvent]:
        while True:
            item = await self._queue.get()
            if item is _END:
                self.outcome = self._broker.outcome(self._run_id)
                return
            yield item

    async def next(self, timeout: float | None) -> StreamEvent | None:
        """The next event, or None when the run ended; raises TimeoutError after `timeout`
        (None: waits as long as it takes)."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            # A deadline on this task, not `wait_for`'s extra task per wait.
            async with asyncio.timeout(timeout):
                item = await self._queue.get()
        if item is _END:
            self.outcome = self._broker.outcome(self._run_id)
        return item

    def ready(self) -> list[StreamEvent | None]:
        """The events already queued, without waiting; a None last if the run ended."""
        items: list[StreamEvent | None] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return items
            items.append(item)
            if item is _END:
                self.outcome = self._broker.outcome(self._run_id)
                return items

    def end(self) -> None:
        """End this subscription after what it already holds (the run ended before it began)."""
        self._broker._unsubscribe(self._run_id, self._queue)
        self._queue.put_nowait(_END)

    def close(self) -> None:
        self._broker._unsubscribe(self._run_id, self._queue)


class Broker:
    def __init__(self, retention_seconds: float = 120.0) -> None:
        self._channels: dict[str, _Channel] = {}
        self._threads: dict[str, _ThreadChannel] = {}
        self._run_threads: dict[str, str] = {}
        self._clock = _IdClock()
        self._retention = retention_seconds
        #: Where events for other processes go: the cluster, once it started; else nowhere.
        self.outbox: Outbox = Solo()

    def bind(self, run_id: str, thread_id: str) -> None:
        """Route a run's events to its thread's stream too (called as the run starts)."""
        self._run_threads[run_id] = thread_id

    def subscribe_thread(self, thread_id: str, *, after: str | None = None) -> Subscription:
        """Every event of every run on a thread, from now on (after replaying the stored ones
        newer than `after`). It never ends by itself: threads outlive their runs."""
        channel = self._threads.setdefault(thread_id, _ThreadChannel())
        self._prune(channel)
        queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        # Ids run across the thread's runs, and the last one a client saw may be of an event
        # that was not kept (a run that was not resumable): what is newer than it is replayed.
        floor = parse_event_id(after) if after is not None else None
        if floor is not None:
            for _, event in channel.history:
                if _order(event) > floor:
                    queue.put_nowait(event)
        channel.subscribers.add(queue)
        return Subscription(self, f"thread:{thread_id}", queue)

    def watches_thread(self, thread_id: str) -> bool:
        """Whether anyone here follows the thread's stream."""
        channel = self._threads.get(thread_id)
        return channel is not None and bool(channel.subscribers)

    def publish_thread(self, thread_id: str, event: str, data: Any) -> None:
        """An event of the thread itself, not of a run (a `state_update`), to its streams here.
        Not kept for replay: it describes a state the thread's history already holds."""
        channel = self._threads.get(thread_id)
        if channel is None or not channel.subscribers:
            return
        item = StreamEvent(event, dumps(data), self._clock.next())
        for queue in channel.subscribers:
            queue.put_nowait(item)

    def _prune(self, channel: _ThreadChannel) -> None:
        horizon = time.monotonic() - self._retention
        while channel.history and channel.history[0][0] < horizon:
            channel.history.popleft()

    def _thread_channel(self, run_id: str, *, create: bool) -> _ThreadChannel | None:
        thread_id = self._run_threads.get(run_id)
        if thread_id is None:
            return None
        channel = self._threads.get(thread_id)
        if channel is None and create:
            channel = self._threads[thread_id] = _ThreadChannel()
        return channel

    @staticmethod
    def _deliver(channel: _ThreadChannel, item: StreamEvent) -> None:
        if item.resumable:
            channel.history.append((time.monotonic(), item))
        for queue in channel.subscribers:
            queue.put_nowait(item)

    def subscribe(
        self, run_id: str, *, after: str | None = None, events: bool = True
    ) -> Subscription:
        """Subscribe to a run; with `after`, first replay its stored events newer than that id.
        With `events=False` only the end (and outcome) is delivered.

        A run that already ended yields its replay (if any) and then ends at once.
        """
        channel = self._channels.setdefault(run_id, _Channel())
        queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        if after is not None and events:
            for event in _replay(channel.history, after):
                queue.put_nowait(event)
        if channel.outcome is not None:
            queue.put_nowait(_END)
        else:
            (channel.subscribers if events else channel.watchers).add(queue)
        return Subscription(self, run_id, queue)

    def publish(self, run_id: str, event: str, data: Any, *, resumable: bool = False) -> None:
        channel = self._channels.get(run_id)
        thread = self._thread_channel(run_id, create=resumable)
        readers = bool(channel and channel.subscribers) or bool(thread and thread.subscribers)
        thread_id = self._run_threads.get(run_id)
        remote = thread_id is not None and self.outbox.wants(run_id, thread_id, resumable=resumable)
        if not resumable and not readers and not remote:
            return  # nobody reads events and none are kept: skip the serialisation too
        if channel is None:
            channel = self._channels[run_id] = _Channel()
        payload = data if isinstance(data, bytes) else dumps(data)
        item = StreamEvent(event, payload, self._clock.next(), resumable)
        if resumable:
            channel.history.append(item)
        for queue in channel.subscribers:
            queue.put_nowait(item)
        if thread is not None:
            self._deliver(thread, item)
        if remote and thread_id is not None:
            self.outbox.send(run_id, thread_id, item)

    # -- runs executing in other processes (the cluster mirrors them here) ----------------------

    def new_id(self) -> str:
        """An event id after every one given so far (for an event not published here)."""
        return self._clock.next()

    def open_runs(self) -> list[str]:
        """Runs with a channel here that has not ended."""
        return [r for r, c in self._channels.items() if c.outcome is None]

    def thread_of(self, run_id: str) -> str | None:
        return self._run_threads.get(run_id)

    def settle(self, run_id: str, status: str) -> None:
        """A run executing elsewhere ended with `status` (as committed): end its channel with
        the outcome its log ended with, or with the bare status if the log has none."""
        channel = self._channels.get(run_id)
        if channel is None or channel.outcome is not None:
            return
        logged = channel.logged_outcome
        # `rollback` is how the database reports a deleted run, which is also how a stateless
        # run ends (its temporary thread goes with it): the logged outcome tells which.
        if logged is not None and status in (logged.status, "rollback"):
            self.finish(run_id, logged)
        else:
            self.finish(run_id, RunOutcome(status))  # type: ignore[arg-type]

    def has_channel(self, run_id: str) -> bool:
        return run_id in self._channels

    def cursor(self, run_id: str) -> str | None:
        channel = self._channels.get(run_id)
        return channel.cursor if channel else None

    def reads(self, run_id: str, thread_id: str) -> bool:
        """Whether anyone here reads this run (directly or through its thread's stream)."""
        channel = self._channels.get(run_id)
        if channel is not None and (channel.subscribers or channel.watchers):
            return True
        thread = self._threads.get(thread_id)
        return thread is not None and bool(thread.subscribers)

    def ingest(self, run_id: str, thread_id: str, logged: Sequence[LoggedEvent]) -> None:
        """Events of a run executing in another process, read from its log: delivered as if
        published here, under the ids they were published with."""
        self.bind(run_id, thread_id)
        channel = self._channels.setdefault(run_id, _Channel())
        thread = self._thread_channel(run_id, create=any(e.event.resumable for e in logged))
        for entry in logged:
            channel.cursor = entry.cursor
            item = entry.event
            if channel.outcome is not None:
                continue
            if item.event == END_EVENT:
                # Logged just before the run's end is committed: a reader told now could ask
                # for the run and find it still running. `settle` delivers it.
                body = loads(item.data)
                channel.logged_outcome = RunOutcome(
                    body["status"],
                    values=body["values"],
                    error=body["error"],
                    usage=body.get("usage"),  # absent from a process of an earlier version
                )
                continue
            if item.resumable:
                channel.history.append(item)
            for queue in channel.subscribers:
                queue.put_nowait(item)
            if thread is not None:
                self._deliver(thread, item)

    def finish(self, run_id: str, outcome: RunOutcome) -> None:
        self.outbox.forget(run_id)
        channel = self._channels.get(run_id)
        if channel is None:
            channel = self._channels[run_id] = _Channel()
        channel.outcome = outcome
        for queue in (*channel.subscribers, *channel.watchers):
            queue.put_nowait(_END)
        channel.subscribers.clear()
        channel.watchers.clear()
        thread = self._thread_channel(run_id, create=False)
        if thread is not None:
            done = dumps({"status": "run_done", "run_id": run_id})
            self._deliver(
                thread, StreamEvent("metadata", done, self._clock.next(), bool(channel.history))
            )
        delay = self._retention if channel.history else 5.0
        if channel.expiry is not None:  # finished before (a retried run): one timer only
            channel.expiry.cancel()
        channel.expiry = asyncio.get_running_loop().call_later(delay, self._expire, run_id)

    def _expire(self, run_id: str) -> None:
        self._channels.pop(run_id, None)
        thread_id = self._run_threads.pop(run_id, None)
        if thread_id is not None and (thread := self._threads.get(thread_id)) is not None:
            self._prune(thread)
            if not thread.subscribers and not thread.history:
                self._threads.pop(thread_id, None)

    def reset(self, run_id: str) -> None:
        """Forget a finished run's outcome before it runs again (retry after restart)."""
        channel = self._channels.get(run_id)
        if channel is not None and channel.outcome is not None:
            if channel.expiry is not None:
                channel.expiry.cancel()
            channel.outcome = None

    def outcome(self, run_id: str) -> RunOutcome | None:
        channel = self._channels.get(run_id)
        return channel.outcome if channel else None

    def _unsubscribe(self, run_id: str, queue: asyncio.Queue[StreamEvent | None]) -> None:
        if run_id.startswith("thread:"):
            thread_id = run_id.removeprefix("thread:")
            thread = self._threads.get(thread_id)
            if thread is not None:
                thread.subscribers.discard(queue)
                if not thread.subscribers and not thread.history:
                    self._threads.pop(thread_id, None)
            return
        channel = self._channels.get(run_id)
        if channel is None:
            return
        channel.subscribers.discard(queue)
        channel.watchers.discard(queue)
        if (
            not channel.subscribers
            and not channel.watchers
            and not channel.history
            and channel.outcome is None
        ):
            # Nobody is listening to a run that has not ended; drop the empty channel so a
            # run nobody streams costs nothing. `finish` recreates it for late joiners.
            self._channels.pop(run_id, None)
