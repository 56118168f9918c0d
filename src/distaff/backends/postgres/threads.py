"""Threads in PostgreSQL. As on SQLite, a thread row carries the denormalised state of its last
run (`values`, `interrupts`, `error`) so reads and searches need no checkpoint access."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow

from distaff.backends.base import ThreadRetention
from distaff.backends.postgres.database import Connection, Database, iso, json, jsonb
from distaff.backends.postgres.filters import where_clause
from distaff.backends.rules import filters, sorting
from distaff.backends.rules import threads as rules
from distaff.backends.rules.checkpoints import stamped_assistant
from distaff.ids import now_iso
from distaff.models import Json, Page, Thread, ThreadQuery
from distaff.serde import Raw
from distaff.state import ThreadSnapshot


def thread_row(row: DictRow) -> Thread:
    thread: Thread = {
        "thread_id": row["thread_id"],
        "created_at": iso(row["created_at"]) or "",
        "updated_at": iso(row["updated_at"]) or "",
        "state_updated_at": iso(row["state_updated_at"]) or "",
        "metadata": row["metadata"],
        "status": row["status"],
        "config": row["config"],
        "values": row["values"],
    }
    # A thread that never finished a run has no `error`/`interrupts` keys, as in the reference.
    if row["interrupts"] is not None:
        thread["error"] = row["error"]
        thread["interrupts"] = row["interrupts"]
    if row["ttl"] is not None:
        thread["ttl"] = row["ttl"]
    return thread


async def get_thread(conn: Connection, thread_id: str, *, lock: bool = False) -> Thread | None:
    sql = "SELECT * FROM threads WHERE thread_id = %s" + (" FOR UPDATE" if lock else "")
    row = await (await conn.execute(sql, (thread_id,))).fetchone()
    return thread_row(row) if row else None


async def insert_thread(conn: Connection, t: Thread, *, do_nothing: bool = False) -> bool:
    """Insert `t`; returns False when the id exists (only with `do_nothing`)."""
    cur = await conn.execute(
        "INSERT INTO threads (thread_id, created_at, updated_at, state_updated_at, metadata,"
        ' status, config, "values", ttl) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)'
        + (" ON CONFLICT (thread_id) DO NOTHING" if do_nothing else ""),
        (
            t["thread_id"],
            t["created_at"],
            t["updated_at"],
            t["state_updated_at"],
            jsonb(t["metadata"]),
            t["status"],
            json(t["config"]),
            None if t.get("values") is None else jsonb(t["values"]),
            json(t.get("ttl")),
        ),
    )
    return cur.rowcount == 1


def snapshot_columns(snapshot: ThreadSnapshot, now: str) -> dict[str, object]:
    """The thread columns a run's end (or a state update) sets, as named parameters for
    `SNAPSHOT_ASSIGNMENTS`."""
    return {
        "values": None if snapshot.values is None else jsonb(Raw(snapshot.values_json())),
        "interrupts": json(snapshot.interrupts),
        "error": json(snapshot.error),
        "state_updated_at": now,
    }


SNAPSHOT_ASSIGNMENTS = (
    '"values" = %(values)s, interrupts = %(interrupts)s, error = %(error)s,'
    " state_updated_at = %(state_updated_at)s"
)


async def write_snapshot(
    conn: Connection, thread_id: str, snapshot: ThreadSnapshot, now: str
) -> None:
    await conn.execute(
        f"UPDATE threads SET {SNAPSHOT_ASSIGNMENTS}, updated_at = %(now)s"
        " WHERE thread_id = %(thread_id)s",
        {**snapshot_columns(snapshot, now), "now": now, "thread_id": thread_id},
    )


class PostgresThreads:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, thread: Thread, *, do_nothing: bool) -> Thread:
        async with self._db.transaction() as conn:
            if await insert_thread(conn, thread, do_nothing=True):
                return thread
            # `rules.threads.if_exists`, answered before reading the row it would return.
            if not do_nothing:
                raise rules.already_exists(thread["thread_id"])
            existing = await get_thread(conn, thread["thread_id"])
            assert existing is not None
            return existing

    async def get(self, thread_id: str) -> Thread | None:
        async with self._db.connection() as conn:
            return await get_thread(conn, thread_id)

    async def update(self, thread_id: str, *, metadata: Json | None, ttl: Any = None) -> Thread:
        # `||` merges as `rules.threads.merged_metadata` does, in the statement.
        row = await self._db.fetchone(
            "UPDATE threads SET metadata = metadata || %s, updated_at = %s,"
            " ttl = coalesce(%s, ttl) WHERE thread_id = %s RETURNING *",
            (jsonb(metadata or {}), now_iso(), json(ttl), thread_id),
        )
        if row is None:
            raise rules.not_found(thread_id)
        return thread_row(row)

    async def set_retention(self, thread_id: str, policy: Json | None) -> bool:
        row = await self._db.fetchone(
            "UPDATE threads SET retention = %s WHERE thread_id = %s RETURNING thread_id",
            (None if policy is None else jsonb(policy), thread_id),
        )
        return row is not None

    async def retention_of(self, thread_id: str) -> Json | None:
        row = await self._db.fetchone(
            "SELECT retention FROM threads WHERE thread_id = %s", (thread_id,)
        )
        return row["retention"] if row is not None else None

    async def retention_page(self, after: str, limit: int) -> list[ThreadRetention]:
        rows = await self._db.fetchall(
            "SELECT thread_id, metadata ->> 'assistant_id' AS assistant_id, retention, status"
            " FROM threads WHERE thread_id > %s ORDER BY thread_id LIMIT %s",
            (after, limit),
        )
        return [
            ThreadRetention(
                r["thread_id"],
                stamped_assistant(r["assistant_id"]),
                r["retention"],
                r["status"] == "busy",
            )
            for r in rows
        ]

    async def delete(self, thread_id: str) -> bool:
        # Its runs go by the foreign key's cascade; its crons with it, in the same statement
        # (left behind, they would fire into a thread that is gone).
        deleted = await self._db.execute(
            "WITH crons_gone AS (DELETE FROM crons WHERE thread_id = %s)"
            " DELETE FROM threads WHERE thread_id = %s",
            (thread_id, thread_id),
        )
        return deleted > 0

    async def search(self, query: ThreadQuery, page: Page) -> list[Thread]:
        where, params = where_clause(filters.threads(query))
        column = sorting.sort_key(sorting.THREADS, query.sort_by)
        order = sorting.direction(query.sort_order)
        rows = await self._db.fetchall(
            f"SELECT * FROM threads WHERE {where} ORDER BY {column} {order}, thread_id {order}"
            " LIMIT %s OFFSET %s",
            (*params, page.limit, page.offset),
        )
        return [thread_row(r) for r in rows]

    async def count(self, query: ThreadQuery) -> int:
        where, params = where_clause(filters.threads(query))
        row = await self._db.fetchone(f"SELECT count(*) AS n FROM threads WHERE {where}", params)
        return int(row["n"]) if row else 0

    async def expired(self, limit: int) -> list[tuple[str, str]]:
        # `rules.threads.expired_strategy`, in SQL: the database picks the page.
        rows = await self._db.fetchall(
            "SELECT thread_id, coalesce(ttl->>'strategy', 'delete') AS strategy FROM threads"
            " WHERE ttl IS NOT NULL AND status != 'busy'"
            " AND json_typeof(ttl->'ttl') = 'number'"
            " AND updated_at + (ttl->>'ttl')::float8 * interval '1 minute' < now()"
            " ORDER BY updated_at LIMIT %s",
            (limit,),
        )
        return [(r["thread_id"], str(r["strategy"])) for r in rows]

    async def touch(self, thread_id: str) -> None:
        await self._db.execute(
            "UPDATE threads SET updated_at = %s WHERE thread_id = %s", (now_iso(), thread_id)
        )

    async def set_state(self, thread_id: str, snapshot: ThreadSnapshot) -> None:
        async with self._db.transaction() as conn:
            thread = await get_thread(conn, thread_id, lock=True)
            if thread is None:
                return
            await write_snapshot(conn, thread_id, snapshot, now_iso())
            status = rules.status_after_state(thread["status"], has_next=snapshot.has_next)
            if status is not None:
                await conn.execute(
                    "UPDATE threads SET status = %s WHERE thread_id = %s", (status, thread_id)
                )
