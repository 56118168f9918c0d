"""A relay whose run event logs hold only sealed event data.

Stream events written to a run's log (PostgreSQL's `run_events`, Redis Streams) are kept for
resumable streams and other processes' readers: their `data` is sealed by the blob handlers
(`ctx.model="event"`, `ctx.field="data"`) before the inner relay writes it, and opened when
read back. The event's name, id and flags stay plain (readers filter and resume by them). The
relay's notifications (wake-ups, run ends, cancels, watches, "new events in run R") carry ids
only, never event data, and are passed on as they are.

`send` is synchronous and the handlers are async: events are sealed in order, in batches, off
the caller's path, and handed to the inner relay in the order they were sent.
"""

from __future__ import annotations

import dataclasses

from distaff.backends.encrypted.cipher import Cipher
from distaff.backends.encrypted.repos import SEALED_LINE
from distaff.backends.relay import BatchWriter, Entry, LoggedEvent, Relay, Signals
from distaff.events import StreamEvent
from distaff.models import CancelAction

#: Events sealed per batch before they are handed on.
BATCH = 500


class EncryptedRelay:
    def __init__(self, inner: Relay, cipher: Cipher) -> None:
        self.inner = inner
        self._cipher = cipher
        self._writer = BatchWriter(self._forward, BATCH)

    async def _forward(self, batch: list[Entry]) -> None:
        for run_id, thread_id, event in batch:
            self.inner.send(run_id, thread_id, await self._seal(event))

    async def _seal(self, event: StreamEvent) -> StreamEvent:
        if not self._cipher.seals_blobs:
            return event
        data = SEALED_LINE + await self._cipher.seal_blob("event", "data", event.data)
        return dataclasses.replace(event, data=data)

    async def _open(self, logged: LoggedEvent) -> LoggedEvent:
        data = logged.event.data
        if not data.startswith(SEALED_LINE):
            return logged  # written before encryption was configured, or blobs not sealed
        plain = await self._cipher.open_blob("event", "data", data[len(SEALED_LINE) :])
        return dataclasses.replace(logged, event=dataclasses.replace(logged.event, data=plain))

    async def start(self, signals: Signals) -> None:
        self._writer.start()
        await self.inner.start(signals)

    async def stop(self) -> None:
        await self._writer.stop()  # what was sent is handed on before the inner relay stops
        await self.inner.stop()

    def send(self, run_id: str, thread_id: str, event: StreamEvent) -> None:
        if not self._cipher.seals_blobs:  # nothing to seal: as the inner relay would
            self.inner.send(run_id, thread_id, event)
            return
        self._writer.send(run_id, thread_id, event)

    async def flush(self) -> None:
        await self._writer.flush()
        await self.inner.flush()

    async def read(self, run_id: str, after: str | None) -> list[LoggedEvent]:
        return [await self._open(logged) for logged in await self.inner.read(run_id, after)]

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        await self.inner.cancel(run_id, action)

    async def watch(self, key: str, watching: bool) -> None:
        await self.inner.watch(key, watching)

    async def hello(self) -> None:
        await self.inner.hello()

    async def rewatch(self, target: str, key: str) -> None:
        await self.inner.rewatch(target, key)

    async def prune(self, retention_seconds: float) -> int:
        return await self.inner.prune(retention_seconds)
