"""The relay between processes on one PostgreSQL database: LISTEN/NOTIFY and an event table.

One dedicated connection per process LISTENs (a pooled connection cannot: it would miss
notifications while lent out). Wake-ups and run ends are sent by a trigger on `runs`, inside
the transaction that changed the run, so they cost no extra round trip and are never sent for
a change that rolled back. Cancels and watches are sent with `pg_notify` on a pooled
connection. Stream events go into `run_events`, a batch per statement with one notification
per run in it; the notification carries no data, so events of any size fit (NOTIFY payloads
are limited to 8000 bytes).

Every notification but a run's end names the process that sent it, so a process ignores its
own (a process records and announces its own runs' ends itself).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from distaff.backends.postgres.database import Database
from distaff.backends.postgres.events import CHANNEL as EVENTS_CHANNEL
from distaff.backends.relay import Entry, LoggedEvent, RelayBase, Signals
from distaff.events import StreamEvent
from distaff.models import CancelAction

log = logging.getLogger("distaff.relay")

CHANNELS = (
    "distaff_wake",
    "distaff_end",
    "distaff_cancel",
    "distaff_watch",
    # A new process's hello, and the others' watches re-sent to it alone. Channels of their
    # own: a process of an earlier version listens to neither and is told nothing new.
    "distaff_hello",
    "distaff_rewatch",
    "distaff_events",
    EVENTS_CHANNEL,
)
#: At most this many events per INSERT.
BATCH = 500


class PostgresRelay(RelayBase):
    def __init__(self, db: Database, url: str, owner: str) -> None:
        super().__init__(BATCH)
        self._db = db
        self._url = url
        self._owner = owner

    # -- sending ------------------------------------------------------------------------------

    async def _write_batch(self, batch: list[Entry]) -> None:
        columns: list[list[Any]] = [[], [], [], [], [], []]
        for run_id, thread_id, event in batch:
            for column, value in zip(
                columns,
                (run_id, thread_id, event.id, event.event, event.data, event.resumable),
                strict=True,
            ):
                column.append(value)
        await self._db.execute(
            "WITH added AS (INSERT INTO run_events"
            " (run_id, thread_id, event_id, event, data, resumable)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],"
            " %b::bytea[], %s::boolean[]) RETURNING run_id, thread_id)"
            " SELECT pg_notify('distaff_events', %s || ' ' || run_id || ' ' || thread_id)"
            " FROM (SELECT DISTINCT run_id, thread_id FROM added) AS runs",
            (*columns, self._owner),
        )

    async def read(self, run_id: str, after: str | None) -> list[LoggedEvent]:
        rows = await self._db.fetchall(
            "SELECT seq, event_id, event, data, resumable FROM run_events"
            " WHERE run_id = %s AND seq > %s ORDER BY seq",
            (run_id, int(after) if after else 0),
        )
        return [
            LoggedEvent(
                str(r["seq"]),
                StreamEvent(r["event"], bytes(r["data"]), r["event_id"], r["resumable"]),
            )
            for r in rows
        ]

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        await self._notify("distaff_cancel", f"{run_id} {action}")

    async def watch(self, key: str, watching: bool) -> None:
        await self._notify("distaff_watch", f"{key} {'+' if watching else '-'}")

    async def hello(self) -> None:
        await self._notify("distaff_hello", "")

    async def rewatch(self, target: str, key: str) -> None:
        await self._notify("distaff_rewatch", f"{target} {key}")

    async def prune(self, retention_seconds: float) -> int:
        return await self._db.execute(
            "DELETE FROM run_events e WHERE created_at < now() - %s * interval '1 second'"
            " AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.run_id = e.run_id"
            " AND r.status IN ('pending', 'running'))",
            (retention_seconds,),
        )

    async def _notify(self, channel: str, message: str) -> None:
        await self._db.execute("SELECT pg_notify(%s, %s)", (channel, f"{self._owner} {message}"))

    # -- receiving ----------------------------------------------------------------------------

    async def _listen_once(self, signals: Signals) -> None:
        conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        async with conn:
            for channel in CHANNELS:
                await conn.execute(f"LISTEN {channel}")
            await self._subscribed()
            async for note in conn.notifies():
                await self._dispatch(signals, note.channel, note.payload)

    async def _dispatch(self, signals: Signals, channel: str, payload: str) -> None:
        try:
            if channel == "distaff_wake":
                if payload != self._owner:
                    signals.on_wake()
            elif channel == "distaff_end":
                run_id, thread_id, status = payload.split(" ", 2)
                await signals.on_end(run_id, thread_id, status)
            else:
                sender, _, message = payload.partition(" ")
                if sender == self._owner:
                    return
                if channel == EVENTS_CHANNEL:
                    await signals.on_thread_events(message)
                    return
                if channel == "distaff_hello":
                    await signals.on_hello(sender)
                    return
                first, second = message.split(" ", 1)
                if channel == "distaff_events":
                    await signals.on_events(first, second)
                elif channel == "distaff_cancel":
                    signals.on_cancel(first, "rollback" if second == "rollback" else "interrupt")
                elif channel == "distaff_watch":
                    signals.on_watch(first, second == "+")
                elif channel == "distaff_rewatch" and first == self._owner:
                    signals.on_watch(second, True)
        except Exception:
            log.exception("handling %s %r failed", channel, payload)
