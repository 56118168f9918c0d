"""Threads in PostgreSQL. As on SQLite, a thread row carries the denormalised state of its last
run (`values`, `interrupts`, `error`) so reads and searches need no checkpoint access."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow

from distaff.backends.base import ThreadSnapshot
from distaff.backends.postgres.database import Connection, Database, iso, json, jsonb
from distaff.backends.postgres.filters import auth_clause
from distaff.errors import Conflict, NotFound
from distaff.ids import now_iso
from distaff.models import Json, Page, Thread, ThreadQuery

_SORT_COLUMNS = {
    "thread_id": "thread_id",
    "status": "status",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "state_updated_at": "state_updated_at",
}


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
        "values": None if snapshot.values is None else jsonb(snapshot.values),
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


def _where(query: ThreadQuery) -> tuple[str, list[object]]:
    clauses, params = ["true"], list[object]()
    if query.ids is not None:
        clauses.append("thread_id = ANY(%s)")
        params.append(list(query.ids))
    if query.metadata:
        clauses.append("metadata @> %s")
        params.append(jsonb(query.metadata))
    if query.values:
        clauses.append('"values" @> %s')
        params.append(jsonb(query.values))
    if query.status is not None:
        clauses.append("status = %s")
        params.append(query.status)
    if query.auth is not None:
        clause, values = auth_clause(query.auth)
        clauses.append(clause)
        params.extend(values)
    return " AND ".join(clauses), params


class PostgresThreads:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, thread: Thread, *, do_nothing: bool) -> Thread:
        async with self._db.transaction() as conn:
            if await insert_thread(conn, thread, do_nothing=True):
                return thread
            if not do_nothing:
                raise Conflict(f"Thread with ID {thread['thread_id']} already exists")
            existing = await get_thread(conn, thread["thread_id"])
            assert existing is not None
            return existing

    async def get(self, thread_id: str) -> Thread | None:
        async with self._db.connection() as conn:
            return await get_thread(conn, thread_id)

    async def update(self, thread_id: str, *, metadata: Json | None, ttl: Any = None) -> Thread:
        row = await self._db.fetchone(
            "UPDATE threads SET metadata = metadata || %s, updated_at = %s,"
            " ttl = coalesce(%s, ttl) WHERE thread_id = %s RETURNING *",
            (jsonb(metadata or {}), now_iso(), json(ttl), thread_id),
        )
        if row is None:
            raise NotFound(f"Thread with ID {thread_id} not found")
        return thread_row(row)

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
        where, params = _where(query)
        column = _SORT_COLUMNS[query.sort_by]
        order = "ASC" if query.sort_order == "asc" else "DESC"
        rows = await self._db.fetchall(
            f"SELECT * FROM threads WHERE {where} ORDER BY {column} {order}, thread_id {order}"
            " LIMIT %s OFFSET %s",
            (*params, page.limit, page.offset),
        )
        return [thread_row(r) for r in rows]

    async def count(self, query: ThreadQuery) -> int:
        where, params = _where(query)
        row = await self._db.fetchone(f"SELECT count(*) AS n FROM threads WHERE {where}", params)
        return int(row["n"]) if row else 0

    async def expired(self, limit: int) -> list[tuple[str, str]]:
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
            if thread["status"] != "busy":
                status = "interrupted" if snapshot.has_next else "idle"
                await conn.execute(
                    "UPDATE threads SET status = %s WHERE thread_id = %s", (status, thread_id)
                )
