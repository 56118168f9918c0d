"""The v2 stream's event log in PostgreSQL. Each batch tells the other processes which thread
has news (`distaff_thread_events`), in the statement that stores it: the notification is sent
only if the events are there to read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from distaff.backends.base import LoggedEnvelope
from distaff.backends.postgres.database import Database

CHANNEL = "distaff_thread_events"


def _envelope(row: Any) -> LoggedEnvelope:
    return LoggedEnvelope(
        row["seq"],
        row["run_id"],
        row["method"],
        tuple(row["namespace"]),
        row["name"],
        bytes(row["line"]),
    )


class PostgresEvents:
    def __init__(self, db: Database, owner: str) -> None:
        self._db = db
        self._owner = owner

    async def append(self, thread_id: str, events: Sequence[LoggedEnvelope]) -> None:
        # Through the thread row: a thread deleted while its run streamed adds nothing.
        await self._db.execute(
            "WITH added AS (INSERT INTO thread_events"
            " (thread_id, seq, run_id, method, namespace, name, line)"
            " SELECT t.thread_id, e.* FROM threads t, unnest(%s::bigint[], %s::text[],"
            " %s::text[], %s::jsonb[], %s::text[], %s::bytea[]) AS e"
            " WHERE t.thread_id = %s ON CONFLICT DO NOTHING RETURNING 1)"
            " SELECT pg_notify(%s, %s) WHERE EXISTS (SELECT 1 FROM added)",
            (
                [e.seq for e in events],
                [e.run_id for e in events],
                [e.method for e in events],
                [Jsonb(list(e.namespace)) for e in events],
                [e.name for e in events],
                [e.line for e in events],
                thread_id,
                CHANNEL,
                f"{self._owner} {thread_id}",
            ),
        )

    async def read(self, thread_id: str, after: int, limit: int) -> list[LoggedEnvelope]:
        rows = await self._db.fetchall(
            "SELECT seq, run_id, method, namespace, name, line FROM thread_events"
            " WHERE thread_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            (thread_id, after, limit),
        )
        return [_envelope(r) for r in rows]

    async def last_seq(self, thread_id: str) -> int:
        row = await self._db.fetchone(
            "SELECT coalesce(max(seq), 0) AS seq FROM thread_events WHERE thread_id = %s",
            (thread_id,),
        )
        return int(row["seq"]) if row else 0

    async def trim(self, thread_id: str, keep: int) -> int:
        async with self._db.transaction() as conn:
            beyond = await (
                await conn.execute(
                    "SELECT run_id FROM thread_events WHERE thread_id = %s"
                    " ORDER BY seq DESC LIMIT 1 OFFSET %s",
                    (thread_id, keep),
                )
            ).fetchone()
            if beyond is None:
                return 0
            latest = await (
                await conn.execute(
                    "SELECT run_id FROM thread_events WHERE thread_id = %s"
                    " ORDER BY seq DESC LIMIT 1",
                    (thread_id,),
                )
            ).fetchone()
            # The run that crosses the line goes whole, unless it is the latest.
            whole = latest is None or beyond["run_id"] != latest["run_id"]
            cut = await (
                await conn.execute(
                    "SELECT min(seq) AS lo, max(seq) AS hi FROM thread_events"
                    " WHERE thread_id = %s AND run_id = %s",
                    (thread_id, beyond["run_id"]),
                )
            ).fetchone()
            assert cut is not None
            if whole:
                sql, bound = "DELETE FROM thread_events WHERE thread_id = %s AND seq <= %s", "hi"
            else:
                sql, bound = "DELETE FROM thread_events WHERE thread_id = %s AND seq < %s", "lo"
            result = await conn.execute(sql, (thread_id, cut[bound]))
            return result.rowcount
