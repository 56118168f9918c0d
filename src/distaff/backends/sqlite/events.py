"""The v2 stream's event log in SQLite (the memory backend's too: an in-memory database)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence

from distaff.backends.base import LoggedEnvelope
from distaff.backends.sqlite.database import Database


def _envelope(row: sqlite3.Row) -> LoggedEnvelope:
    return LoggedEnvelope(
        row["seq"],
        row["run_id"],
        row["method"],
        tuple(json.loads(row["namespace"])),
        row["name"],
        bytes(row["line"]),
    )


#: Each thread's rows for `thread_events`.
EventRows = dict[str, list[tuple[str, int, str, str, str, str | None, bytes]]]


def event_rows(batch: Mapping[str, Sequence[LoggedEnvelope]]) -> EventRows:
    """The rows to insert (made before the job, off the database thread)."""
    return {
        thread_id: [
            (thread_id, e.seq, e.run_id, e.method, json.dumps(e.namespace), e.name, e.line)
            for e in events
        ]
        for thread_id, events in batch.items()
        if events
    }


def insert_events(conn: sqlite3.Connection, rows: EventRows) -> None:
    """Append the rows, inside the caller's transaction."""
    for thread_id, thread_rows in rows.items():
        # A thread deleted while its run streamed takes its events with it: the insert finds
        # no thread and adds nothing.
        if conn.execute("SELECT 1 FROM threads WHERE thread_id = ?", (thread_id,)).fetchone():
            conn.executemany(
                "INSERT OR IGNORE INTO thread_events"
                " (thread_id, seq, run_id, method, namespace, name, line)"
                " VALUES (?,?,?,?,?,?,?)",
                thread_rows,
            )


class SqliteEvents:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, batch: Mapping[str, Sequence[LoggedEnvelope]]) -> None:
        rows = event_rows(batch)
        await self._db.write(lambda conn: insert_events(conn, rows))

    async def read(self, thread_id: str, after: int, limit: int) -> list[LoggedEnvelope]:
        def select(conn: sqlite3.Connection) -> list[LoggedEnvelope]:
            cursor = conn.execute(
                "SELECT seq, run_id, method, namespace, name, line FROM thread_events"
                " WHERE thread_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (thread_id, after, limit),
            )
            return [_envelope(r) for r in cursor]

        return await self._db.read(select)

    async def last_seq(self, thread_id: str) -> int:
        def select(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT max(seq) FROM thread_events WHERE thread_id = ?", (thread_id,)
            ).fetchone()
            return int(row[0] or 0)

        return await self._db.read(select)

    async def trim(self, thread_id: str, keep: int) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            beyond = conn.execute(
                "SELECT run_id FROM thread_events WHERE thread_id = ?"
                " ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (thread_id, keep),
            ).fetchone()
            if beyond is None:
                return 0
            latest = conn.execute(
                "SELECT run_id FROM thread_events WHERE thread_id = ? ORDER BY seq DESC LIMIT 1",
                (thread_id,),
            ).fetchone()
            # The run that crosses the line goes whole, unless it is the latest.
            bound, op = ("min", "<") if beyond[0] == latest[0] else ("max", "<=")
            cut = conn.execute(
                f"SELECT {bound}(seq) FROM thread_events WHERE thread_id = ? AND run_id = ?",
                (thread_id, beyond[0]),
            ).fetchone()[0]
            return conn.execute(
                f"DELETE FROM thread_events WHERE thread_id = ? AND seq {op} ?", (thread_id, cut)
            ).rowcount

        return await self._db.write(delete)
