"""Threads in SQLite. A thread row also carries the denormalised state of its last run
(`values`, `interrupts`, `error`) so reads and searches need no checkpoint access."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from distaff.backends.base import ThreadRetention
from distaff.backends.rules import filters, sorting
from distaff.backends.rules import threads as rules
from distaff.backends.rules.checkpoints import stamped_assistant
from distaff.backends.sqlite.database import Database, dump, load
from distaff.backends.sqlite.filters import where_clause
from distaff.ids import now_iso, utcnow
from distaff.models import Json, Page, Thread, ThreadQuery
from distaff.state import ThreadSnapshot


def thread_row(row: sqlite3.Row) -> Thread:
    thread: Thread = {
        "thread_id": row["thread_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "state_updated_at": row["state_updated_at"],
        "metadata": load(row["metadata"]),
        "status": row["status"],
        "config": load(row["config"]),
        "values": load(row["values"]),
    }
    # A thread that never finished a run has no `error`/`interrupts` keys, as in the reference.
    if row["interrupts"] is not None:
        thread["error"] = load(row["error"])
        thread["interrupts"] = load(row["interrupts"])
    if row["ttl"] is not None:
        thread["ttl"] = load(row["ttl"])
    return thread


def get_thread(conn: sqlite3.Connection, thread_id: str) -> Thread | None:
    row = conn.execute("SELECT * FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
    return thread_row(row) if row else None


def insert_thread(conn: sqlite3.Connection, t: Thread) -> None:
    conn.execute(
        "INSERT INTO threads (thread_id, created_at, updated_at, state_updated_at, metadata,"
        ' status, config, "values", ttl) VALUES (?,?,?,?,?,?,?,?,?)',
        (
            t["thread_id"],
            t["created_at"],
            t["updated_at"],
            t["state_updated_at"],
            dump(t["metadata"]),
            t["status"],
            dump(t["config"]),
            None if t.get("values") is None else dump(t["values"]),
            None if t.get("ttl") is None else dump(t["ttl"]),
        ),
    )


def write_snapshot(
    conn: sqlite3.Connection, thread_id: str, snapshot: ThreadSnapshot, now: str
) -> None:
    conn.execute(
        'UPDATE threads SET "values"=?, interrupts=?, error=?, state_updated_at=?, updated_at=?'
        " WHERE thread_id=?",
        (
            None if snapshot.values is None else snapshot.values_json().decode(),
            dump(snapshot.interrupts),
            None if snapshot.error is None else dump(snapshot.error),
            now,
            now,
            thread_id,
        ),
    )


class SqliteThreads:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, thread: Thread, *, do_nothing: bool) -> Thread:
        def job(conn: sqlite3.Connection) -> Thread:
            existing = get_thread(conn, thread["thread_id"])
            if existing is not None:
                return rules.if_exists(existing, do_nothing=do_nothing)
            insert_thread(conn, thread)
            return thread

        return await self._db.write(job)

    async def get(self, thread_id: str) -> Thread | None:
        return await self._db.read(get_thread, thread_id)

    async def update(self, thread_id: str, *, metadata: Json | None, ttl: Any = None) -> Thread:
        def job(conn: sqlite3.Connection) -> Thread:
            current = get_thread(conn, thread_id)
            if current is None:
                raise rules.not_found(thread_id)
            merged = rules.merged_metadata(current["metadata"], metadata)
            now = now_iso()
            conn.execute(
                "UPDATE threads SET metadata=?, updated_at=?, ttl=coalesce(?, ttl)"
                " WHERE thread_id=?",
                (dump(merged), now, None if ttl is None else dump(ttl), thread_id),
            )
            updated = get_thread(conn, thread_id)
            assert updated is not None
            return updated

        return await self._db.write(job)

    async def set_retention(self, thread_id: str, policy: Json | None) -> bool:
        value = None if policy is None else dump(policy)
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE threads SET retention=? WHERE thread_id=?", (value, thread_id)
                ).rowcount
                > 0
            )
        )

    async def retention_of(self, thread_id: str) -> Json | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT retention FROM threads WHERE thread_id=?", (thread_id,)
            ).fetchone()
        )
        return None if row is None or row[0] is None else load(row[0])

    async def retention_page(self, after: str, limit: int) -> list[ThreadRetention]:
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT thread_id, json_extract(metadata, '$.assistant_id') AS assistant_id,"
                " retention, status FROM threads WHERE thread_id > ? ORDER BY thread_id LIMIT ?",
                (after, limit),
            ).fetchall()
        )
        return [
            ThreadRetention(
                r["thread_id"],
                stamped_assistant(r["assistant_id"]),
                None if r["retention"] is None else load(r["retention"]),
                r["status"] == "busy",
            )
            for r in rows
        ]

    async def delete(self, thread_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM runs WHERE thread_id = ?", (thread_id,))
            # Its crons too: left behind, they would fire into a thread that is gone.
            conn.execute("DELETE FROM crons WHERE thread_id = ?", (thread_id,))
            return (
                conn.execute("DELETE FROM threads WHERE thread_id = ?", (thread_id,)).rowcount > 0
            )

        return await self._db.write(job)

    async def search(self, query: ThreadQuery, page: Page) -> list[Thread]:
        where, params = where_clause(filters.threads(query))
        column = sorting.sort_key(sorting.THREADS, query.sort_by)
        order = sorting.direction(query.sort_order)
        sql = (
            f"SELECT * FROM threads WHERE {where} ORDER BY {column} {order}, thread_id {order}"
            " LIMIT ? OFFSET ?"
        )

        def job(conn: sqlite3.Connection) -> list[Thread]:
            return [thread_row(r) for r in conn.execute(sql, (*params, page.limit, page.offset))]

        return await self._db.read(job)

    async def count(self, query: ThreadQuery) -> int:
        where, params = where_clause(filters.threads(query))

        def job(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(f"SELECT count(*) FROM threads WHERE {where}", params).fetchone()[0]
            )

        return await self._db.read(job)

    async def expired(self, limit: int) -> list[tuple[str, str]]:
        def job(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            now = utcnow()
            rows = conn.execute(
                "SELECT thread_id, updated_at, ttl FROM threads WHERE ttl IS NOT NULL"
                " AND status != 'busy' ORDER BY updated_at"
            ).fetchall()
            found = []
            for row in rows:
                updated_at = datetime.fromisoformat(row["updated_at"])
                strategy = rules.expired_strategy(load(row["ttl"]), updated_at, now)
                if strategy is not None:
                    found.append((row["thread_id"], strategy))
                if len(found) >= limit:
                    break
            return found

        return await self._db.read(job)

    async def touch(self, thread_id: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE threads SET updated_at=? WHERE thread_id=?", (now_iso(), thread_id)
            )

        await self._db.write(job)

    async def set_state(self, thread_id: str, snapshot: ThreadSnapshot) -> None:
        def job(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT status FROM threads WHERE thread_id=?", (thread_id,)
            ).fetchone()
            if row is None:
                return
            write_snapshot(conn, thread_id, snapshot, now_iso())
            status = rules.status_after_state(row["status"], has_next=snapshot.has_next)
            if status is not None:
                conn.execute("UPDATE threads SET status=? WHERE thread_id=?", (status, thread_id))

        await self._db.write(job)
