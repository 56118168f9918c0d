"""Crons in SQLite."""

from __future__ import annotations

import sqlite3

from distaff.backends.rules import crons as rules
from distaff.backends.rules import filters, sorting
from distaff.backends.sqlite.database import Database, dump, load
from distaff.backends.sqlite.filters import where_clause
from distaff.ids import now_iso
from distaff.models import Cron, CronQuery, Json, Page

_COLUMNS = (
    "cron_id, assistant_id, thread_id, user_id, end_time, schedule, timezone, payload,"
    " next_run_date, metadata, on_run_completed, enabled, created_at, updated_at"
)


def _row(row: sqlite3.Row) -> Cron:
    return {
        "cron_id": row["cron_id"],
        "assistant_id": row["assistant_id"],
        "thread_id": row["thread_id"],
        "user_id": row["user_id"],
        "end_time": row["end_time"],
        "schedule": row["schedule"],
        "timezone": row["timezone"],
        "payload": load(row["payload"]),
        "next_run_date": row["next_run_date"],
        "metadata": load(row["metadata"]),
        "on_run_completed": row["on_run_completed"],
        "enabled": bool(row["enabled"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _values(c: Cron) -> tuple[object, ...]:
    return (
        c["cron_id"],
        c["assistant_id"],
        c["thread_id"],
        c["user_id"],
        c["end_time"],
        c["schedule"],
        c["timezone"],
        dump(c["payload"]),
        c["next_run_date"],
        dump(c["metadata"]),
        c["on_run_completed"],
        int(c["enabled"]),
        c["created_at"],
        c["updated_at"],
    )


def _put(conn: sqlite3.Connection, cron: Cron, *, replace: bool = False) -> None:
    """Insert the cron; with `replace`, overwrite the row of the same id (an update writes
    the whole row)."""
    verb = "REPLACE" if replace else "INSERT"
    placeholders = ",".join("?" * 14)
    conn.execute(f"{verb} INTO crons ({_COLUMNS}) VALUES ({placeholders})", _values(cron))


def _get(conn: sqlite3.Connection, cron_id: str) -> Cron | None:
    row = conn.execute("SELECT * FROM crons WHERE cron_id=?", (cron_id,)).fetchone()
    return _row(row) if row else None


class SqliteCrons:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, cron: Cron) -> Cron:
        def job(conn: sqlite3.Connection) -> Cron:
            _put(conn, cron)
            return cron

        return await self._db.write(job)

    async def get(self, cron_id: str) -> Cron | None:
        return await self._db.read(_get, cron_id)

    async def update(self, cron_id: str, changes: Json) -> Cron:
        def job(conn: sqlite3.Connection) -> Cron:
            current = _get(conn, cron_id)
            if current is None:
                raise rules.not_found(cron_id)
            new = rules.updated(current, changes, now_iso())
            _put(conn, new, replace=True)
            return new

        return await self._db.write(job)

    async def delete(self, cron_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM crons WHERE cron_id=?", (cron_id,)).rowcount > 0

        return await self._db.write(job)

    async def search(self, query: CronQuery, page: Page) -> list[Cron]:
        where, params = where_clause(filters.crons(query))
        column = sorting.sort_key(sorting.CRONS, query.sort_by)
        order = sorting.direction(query.sort_order)
        sql = (
            f"SELECT * FROM crons WHERE {where} ORDER BY {column} {order}, cron_id {order}"
            " LIMIT ? OFFSET ?"
        )

        def job(conn: sqlite3.Connection) -> list[Cron]:
            return [_row(r) for r in conn.execute(sql, (*params, page.limit, page.offset))]

        return await self._db.read(job)

    async def count(self, query: CronQuery) -> int:
        where, params = where_clause(filters.crons(query))

        def job(conn: sqlite3.Connection) -> int:
            row = conn.execute(f"SELECT count(*) FROM crons WHERE {where}", params).fetchone()
            return int(row[0])

        return await self._db.read(job)

    async def due(self, now: str, limit: int) -> list[Cron]:
        def job(conn: sqlite3.Connection) -> list[Cron]:
            rows = conn.execute(
                "SELECT * FROM crons WHERE enabled=1 AND next_run_date IS NOT NULL"
                " AND next_run_date <= ? ORDER BY next_run_date LIMIT ?",
                (now, limit),
            ).fetchall()
            return [_row(r) for r in rows]

        return await self._db.read(job)

    async def advance(self, cron_id: str, expected: str | None, next_run_date: str | None) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE crons SET next_run_date=? WHERE cron_id=? AND next_run_date IS ?",
                (next_run_date, cron_id, expected),
            )
            return cur.rowcount == 1

        return await self._db.write(job)
