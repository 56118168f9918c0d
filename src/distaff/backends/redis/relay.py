"""Redis as the stream broker: run event logs in Redis Streams, cancels over pub/sub.

Each run's log is the stream `distaff:run:<run_id>`. An entry is added under the event's own id
(`<ms>-<seq>`, the id clients see in SSE `id:` lines, so a Redis stream id *is* the SSE id);
should Redis refuse it as not above the stream's last id (a retry on a host whose clock is
behind), the entry gets an id from Redis and carries the event's id in a field. Readers read by
stream id, exclusive of the last one they saw. A stream expires `retention` seconds after its
last entry, so Redis needs no sweeping.

After each batch, one message per run on `distaff:events` tells other processes where to look;
cancels go on `distaff:cancel`. Wake-ups, run ends and watches stay with the database's relay:
they are facts about rows in the database, sent by the transaction that changed them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from distaff.backends.relay import Entry, LoggedEvent, Relay, RelayBase, Signals
from distaff.events import StreamEvent
from distaff.models import CancelAction

log = logging.getLogger("distaff.relay")

EVENTS = "distaff:events"
CANCELS = "distaff:cancel"
#: Entries per pipeline.
BATCH = 500


def _key(run_id: str) -> str:
    return f"distaff:run:{run_id}"


class RedisRelay(RelayBase):
    def __init__(self, url: str, database_relay: Relay, retention: float) -> None:
        super().__init__(BATCH)
        self._client: aioredis.Redis = aioredis.Redis.from_url(url)
        self._inner = database_relay
        #: Names this process in its messages, so it can ignore its own.
        self._owner = os.urandom(8).hex()
        self._expire = max(int(retention), 1) + 3600  # the run's own lifetime, roughly, on top

    async def start(self, signals: Signals) -> None:
        await self._client.ping()  # a wrong redis_url fails the start, not the first run
        await self._inner.start(signals)
        await super().start(signals)

    async def stop(self) -> None:
        await super().stop()
        await self._inner.stop()
        await self._client.aclose()

    # -- sending ------------------------------------------------------------------------------

    async def _write_batch(self, batch: list[Entry]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for run_id, _, event in batch:
            pipe.xadd(_key(run_id), _fields(event), id=event.id)
        results = await pipe.execute(raise_on_error=False)
        refused = [
            entry
            for entry, result in zip(batch, results, strict=True)
            if isinstance(result, ResponseError)
        ]
        pipe = self._client.pipeline(transaction=False)
        for run_id, _, event in refused:  # not above the stream's last id: let Redis pick
            pipe.xadd(_key(run_id), _fields(event))
        runs = {(run_id, thread_id) for run_id, thread_id, _ in batch}
        for run_id, thread_id in runs:
            pipe.expire(_key(run_id), self._expire)
            pipe.publish(EVENTS, f"{self._owner} {run_id} {thread_id}")
        await pipe.execute()

    async def read(self, run_id: str, after: str | None) -> list[LoggedEvent]:
        # redis-py's stubs allow str or bytes everywhere; this client returns bytes.
        entries: Any = await self._client.xrange(_key(run_id), min=f"({after}" if after else "-")
        return [_logged(raw_id, fields) for raw_id, fields in entries]

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        await self._client.publish(CANCELS, f"{self._owner} {run_id} {action}")

    async def watch(self, key: str, watching: bool) -> None:
        await self._inner.watch(key, watching)

    async def hello(self) -> None:
        await self._inner.hello()

    async def rewatch(self, target: str, key: str) -> None:
        await self._inner.rewatch(target, key)

    async def prune(self, retention_seconds: float) -> int:
        return 0  # streams expire by themselves

    # -- receiving ----------------------------------------------------------------------------

    async def _listen_once(self, signals: Signals) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(EVENTS, CANCELS)
            await self._subscribed()
            async for message in pubsub.listen():
                await self._dispatch(signals, message)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _dispatch(self, signals: Signals, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            sender, first, second = message["data"].decode().split(" ", 2)
            if sender == self._owner:
                return
            if message["channel"] == EVENTS.encode():
                await signals.on_events(first, second)
            else:
                signals.on_cancel(first, "rollback" if second == "rollback" else "interrupt")
        except Exception:
            log.exception("handling redis message %r failed", message)


def _logged(raw_id: bytes, fields: dict[bytes, bytes]) -> LoggedEvent:
    cursor = raw_id.decode()
    event_id = fields[b"id"].decode() if b"id" in fields else cursor
    resumable = fields.get(b"r") == b"1"
    return LoggedEvent(
        cursor, StreamEvent(fields[b"event"].decode(), fields[b"data"], event_id, resumable)
    )


def _fields(event: StreamEvent) -> Any:
    return {
        "event": event.event,
        "data": event.data,
        "id": event.id,
        "r": "1" if event.resumable else "0",
    }
