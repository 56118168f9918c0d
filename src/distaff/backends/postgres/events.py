"""The v2 stream's event log in PostgreSQL. Each batch tells the other processes which thread
has news (`distaff_thread_events`), in the statement that stores it: the notification is sent
only if the events are there to read."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

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


def events_cte(
    batch: Mapping[str, Sequence[LoggedEnvelope]], owner: str
) -> tuple[str, dict[str, Any]]:
    """`added` and `news`, the common table expressions that append `batch`: through the
    thread rows (a thread deleted while its run streamed adds nothing), with one notification
    per thread that got events (`news` must be read for them to go)."""
    events = [(thread_id, e) for thread_id, es in batch.items() for e in es]
    sql = (
        "added AS (INSERT INTO thread_events"
        " (thread_id, seq, run_id, method, namespace, name, line)"
        " SELECT e.thread_id, e.seq, e.run_id, e.method, e.namespace::jsonb, e.name, e.line"
        " FROM unnest(%(ev_thread)s::text[], %(ev_seq)s::bigint[],"
        " %(ev_run)s::text[], %(ev_method)s::text[], %(ev_namespace)s::text[],"
        " %(ev_name)s::text[], %(ev_line)b::bytea[])"
        " AS e (thread_id, seq, run_id, method, namespace, name, line)"
        " WHERE EXISTS (SELECT 1 FROM threads t WHERE t.thread_id = e.thread_id)"
        " ON CONFLICT DO NOTHING RETURNING thread_id),"
        " news AS (SELECT pg_notify(%(ev_channel)s, %(ev_owner)s || ' ' || thread_id)"
        " FROM (SELECT DISTINCT thread_id FROM added) AS d)"
    )
    params = {
        "ev_thread": [thread_id for thread_id, _ in events],
        "ev_seq": [e.seq for _, e in events],
        "ev_run": [e.run_id for _, e in events],
        "ev_method": [e.method for _, e in events],
        # As JSON text, cast in the statement: a `Jsonb` per element costs the adapter more.
        "ev_namespace": [json.dumps(list(e.namespace)) for _, e in events],
        "ev_name": [e.name for _, e in events],
        "ev_line": [e.line for _, e in events],
        "ev_channel": CHANNEL,
        "ev_owner": owner,
    }
    return sql, params


class PostgresEvents:
    def __init__(self, db: Database, owner: str) -> None:
        self._db = db
        self._owner = owner

    async def append(self, batch: Mapping[str, Sequence[LoggedEnvelope]]) -> None:
        cte, params = events_cte(batch, self._owner)
        await self._db.execute(f"WITH {cte} SELECT count(*) FROM news", params)

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
