"""Crons in PostgreSQL: the SQLite repository's behaviour, with a row lock where SQLite's one
writer thread made read-modify-write atomic.

Sorting matches SQLite's: text by code point ("C" collation), NULLs lowest.
"""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg.rows import DictRow

from distaff.backends.postgres.database import Connection, Database, iso, json, jsonb
from distaff.backends.postgres.filters import where_clause
from distaff.backends.rules import crons as rules
from distaff.backends.rules import filters, sorting
from distaff.ids import isoformat, now_iso
from distaff.models import Cron, CronQuery, Json, Page

_TEXT_KEYS = ("cron_id", "assistant_id", "thread_id")
_SORT_COLUMNS = {k: f'{k} COLLATE "C"' if k in _TEXT_KEYS else k for k in sorting.CRONS}
_COLUMNS = (
    "cron_id, assistant_id, thread_id, user_id, end_time, schedule, timezone, payload,"
    " next_run_date, metadata, on_run_completed, enabled, created_at, updated_at"
)
#: `SET` for every column but `cron_id`: an update writes the whole row, as SQLite's REPLACE.
_ASSIGNMENTS = ", ".join(f"{c.strip()} = %s" for c in _COLUMNS.split(",")[1:])


def _next_run(moment: datetime | None) -> str | None:
    """As `services.crons.next_run` writes it (whole seconds, no `.000000`), not `iso`."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _row(row: DictRow) -> Cron:
    return {
        "cron_id": row["cron_id"],
        "assistant_id": row["assistant_id"],
        "thread_id": row["thread_id"],
        "user_id": row["user_id"],
        "end_time": iso(row["end_time"]),
        "schedule": row["schedule"],
        "timezone": row["timezone"],
        "payload": row["payload"],
        "next_run_date": _next_run(row["next_run_date"]),
        "metadata": row["metadata"],
        "on_run_completed": row["on_run_completed"],
        "enabled": row["enabled"],
        "created_at": isoformat(row["created_at"]),
        "updated_at": isoformat(row["updated_at"]),
    }


def _values(c: Cron) -> tuple[object, ...]:
    """Every column but `cron_id`, in `_COLUMNS` order."""
    return (
        c["assistant_id"],
        c["thread_id"],
        c["user_id"],
        c["end_time"],
        c["schedule"],
        c["timezone"],
        json(c["payload"]),
        c["next_run_date"],
        jsonb(c["metadata"]),
        c["on_run_completed"],
        bool(c["enabled"]),
        c["created_at"],
        c["updated_at"],
    )


async def _get(conn: Connection, cron_id: str, *, lock: bool = False) -> Cron | None:
    sql = "SELECT * FROM crons WHERE cron_id = %s" + (" FOR UPDATE" if lock else "")
    row = await (await conn.execute(sql, (cron_id,))).fetchone()
    return _row(row) if row else None


class PostgresCrons:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, cron: Cron) -> Cron:
        await self._db.execute(
            f"INSERT INTO crons ({_COLUMNS}) VALUES ({','.join(['%s'] * 14)})",
            (cron["cron_id"], *_values(cron)),
        )
        return cron

    async def get(self, cron_id: str) -> Cron | None:
        async with self._db.connection() as conn:
            return await _get(conn, cron_id)

    async def update(self, cron_id: str, changes: Json) -> Cron:
        async with self._db.transaction() as conn:
            current = await _get(conn, cron_id, lock=True)
            if current is None:
                raise rules.not_found(cron_id)
            new = rules.updated(current, changes, now_iso())
            await conn.execute(
                f"UPDATE crons SET {_ASSIGNMENTS} WHERE cron_id = %s", (*_values(new), cron_id)
            )
            return new

    async def delete(self, cron_id: str) -> bool:
        return await self._db.execute("DELETE FROM crons WHERE cron_id = %s", (cron_id,)) > 0

    async def search(self, query: CronQuery, page: Page) -> list[Cron]:
        where, params = where_clause(filters.crons(query))
        column = _SORT_COLUMNS[sorting.sort_key(sorting.CRONS, query.sort_by)]
        # NULLs lowest, as SQLite sorts them.
        direction = sorting.direction(query.sort_order)
        order = f"{direction} NULLS FIRST" if direction == "ASC" else f"{direction} NULLS LAST"
        sql = (
            f"SELECT * FROM crons WHERE {where} ORDER BY {column} {order},"
            f' cron_id COLLATE "C" {order} LIMIT %s OFFSET %s'
        )
        rows = await self._db.fetchall(sql, (*params, page.limit, page.offset))
        return [_row(r) for r in rows]

    async def count(self, query: CronQuery) -> int:
        where, params = where_clause(filters.crons(query))
        row = await self._db.fetchone(f"SELECT count(*) AS n FROM crons WHERE {where}", params)
        return int(row["n"]) if row else 0

    async def due(self, now: str, limit: int) -> list[Cron]:
        rows = await self._db.fetchall(
            "SELECT * FROM crons WHERE enabled AND next_run_date IS NOT NULL"
            " AND next_run_date <= %s::timestamptz ORDER BY next_run_date, cron_id LIMIT %s",
            (now, limit),
        )
        return [_row(r) for r in rows]

    async def advance(self, cron_id: str, expected: str | None, next_run_date: str | None) -> bool:
        changed = await self._db.execute(
            "UPDATE crons SET next_run_date = %s WHERE cron_id = %s"
            " AND next_run_date IS NOT DISTINCT FROM %s::timestamptz",
            (next_run_date, cron_id, expected),
        )
        return changed == 1
