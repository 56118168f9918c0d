"""Assistants and their versions in PostgreSQL: the SQLite repository's behaviour, where the
one writer thread's serialisation is replaced by row locks and `ON CONFLICT`, so replicas
sharing the database cannot interleave an operation.

Text sort keys use the "C" collation: SQLite orders (and `lower`s) by code point, whatever
the database's locale would do.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.rows import DictRow

from distaff.backends.postgres.database import Connection, Database, json, jsonb
from distaff.backends.postgres.filters import where_clause
from distaff.backends.rules import assistants as rules
from distaff.backends.rules import filters, sorting
from distaff.ids import isoformat, now_iso
from distaff.models import Assistant, AssistantQuery, AssistantVersion, Json, Page

_TEXT_KEYS = ("assistant_id", "name", "graph_id")
_SORT_COLUMNS = {k: f'{k} COLLATE "C"' if k in _TEXT_KEYS else k for k in sorting.ASSISTANTS}


def _row(row: DictRow) -> Assistant:
    return {
        "assistant_id": row["assistant_id"],
        "graph_id": row["graph_id"],
        "config": row["config"],
        "context": row["context"],
        "metadata": row["metadata"],
        "name": row["name"],
        "created_at": isoformat(row["created_at"]),
        "updated_at": isoformat(row["updated_at"]),
        "version": row["version"],
        "description": row["description"],
    }


def _version_row(row: DictRow) -> AssistantVersion:
    return {
        "assistant_id": row["assistant_id"],
        "version": row["version"],
        "graph_id": row["graph_id"],
        "config": row["config"],
        "context": row["context"],
        "metadata": row["metadata"],
        "created_at": isoformat(row["created_at"]),
        "name": row["name"],
        "description": row["description"],
    }


async def _insert(conn: Connection, a: Assistant) -> bool:
    """Insert the assistant and its first version unless the id exists; whether it did."""
    cur = await conn.execute(
        "WITH added AS ("
        " INSERT INTO assistants (assistant_id, graph_id, config, context, metadata, name,"
        " description, version, created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (assistant_id) DO NOTHING RETURNING *)"
        " INSERT INTO assistant_versions (assistant_id, graph_id, config, context, metadata, name,"
        " description, version, created_at) SELECT assistant_id, graph_id, config, context,"
        " metadata, name, description, version, created_at FROM added",
        (
            a["assistant_id"],
            a["graph_id"],
            json(a["config"]),
            json(a["context"]),
            jsonb(a["metadata"]),
            a["name"],
            a["description"],
            a["version"],
            a["created_at"],
            a["updated_at"],
        ),
    )
    return cur.rowcount == 1


async def _get(conn: Connection, assistant_id: str, *, lock: bool = False) -> Assistant | None:
    sql = "SELECT * FROM assistants WHERE assistant_id = %s" + (" FOR UPDATE" if lock else "")
    row = await (await conn.execute(sql, (assistant_id,))).fetchone()
    return _row(row) if row else None


async def _write_current(conn: Connection, a: Assistant) -> None:
    await conn.execute(
        "UPDATE assistants SET graph_id=%s, config=%s, context=%s, metadata=%s, name=%s,"
        " description=%s, version=%s, updated_at=%s WHERE assistant_id=%s",
        (
            a["graph_id"],
            json(a["config"]),
            json(a["context"]),
            jsonb(a["metadata"]),
            a["name"],
            a["description"],
            a["version"],
            a["updated_at"],
            a["assistant_id"],
        ),
    )


class PostgresAssistants:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(self, assistants: Sequence[Assistant]) -> None:
        async with self._db.transaction() as conn:
            for a in assistants:
                await _insert(conn, a)

    async def create(self, assistant: Assistant, *, do_nothing: bool) -> Assistant:
        async with self._db.transaction() as conn:
            # Each statement sees what has committed: a row deleted between the two is retried.
            while not await _insert(conn, assistant):
                existing = await _get(conn, assistant["assistant_id"])
                if existing is None:
                    continue
                return rules.if_exists(existing, do_nothing=do_nothing)
            return assistant

    async def get(self, assistant_id: str) -> Assistant | None:
        async with self._db.connection() as conn:
            return await _get(conn, assistant_id)

    async def update(self, assistant_id: str, changes: Json) -> Assistant:
        async with self._db.transaction() as conn:
            # The row lock serialises concurrent updates, which would pick the same version.
            current = await _get(conn, assistant_id, lock=True)
            if current is None:
                raise rules.not_found(assistant_id)
            row = await (
                await conn.execute(
                    "SELECT max(version) AS latest FROM assistant_versions WHERE assistant_id = %s",
                    (assistant_id,),
                )
            ).fetchone()
            latest = row["latest"] if row else None
            now = now_iso()
            new = rules.new_version(current, changes, latest, now)
            await conn.execute(
                "INSERT INTO assistant_versions (assistant_id, graph_id, config, context,"
                " metadata, name, description, version, created_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    assistant_id,
                    new["graph_id"],
                    json(new["config"]),
                    json(new["context"]),
                    jsonb(new["metadata"]),
                    new["name"],
                    new["description"],
                    new["version"],
                    now,
                ),
            )
            await _write_current(conn, new)
            return new

    async def delete(self, assistant_id: str) -> bool:
        return (
            await self._db.execute(
                # Its crons in the same statement: they would fire runs of nothing.
                "WITH crons_gone AS (DELETE FROM crons WHERE assistant_id = %s)"
                " DELETE FROM assistants WHERE assistant_id = %s",
                (assistant_id, assistant_id),
            )
            > 0
        )

    async def search(self, query: AssistantQuery, page: Page) -> list[Assistant]:
        where, params = where_clause(filters.assistants(query))
        column = _SORT_COLUMNS[sorting.sort_key(sorting.ASSISTANTS, query.sort_by)]
        order = sorting.direction(query.sort_order)
        sql = (
            f"SELECT * FROM assistants WHERE {where} ORDER BY {column} {order},"
            f' assistant_id COLLATE "C" {order} LIMIT %s OFFSET %s'
        )
        rows = await self._db.fetchall(sql, (*params, page.limit, page.offset))
        return [_row(r) for r in rows]

    async def count(self, query: AssistantQuery) -> int:
        where, params = where_clause(filters.assistants(query))
        row = await self._db.fetchone(f"SELECT count(*) AS n FROM assistants WHERE {where}", params)
        return int(row["n"]) if row else 0

    async def versions(
        self, assistant_id: str, metadata: Json, page: Page
    ) -> list[AssistantVersion]:
        where, params = where_clause(filters.versions(assistant_id, metadata))
        sql = (
            f"SELECT * FROM assistant_versions WHERE {where}"
            " ORDER BY version DESC LIMIT %s OFFSET %s"
        )
        rows = await self._db.fetchall(sql, (*params, page.limit, page.offset))
        return [_version_row(r) for r in rows]

    async def set_latest(self, assistant_id: str, version: int) -> Assistant:
        async with self._db.transaction() as conn:
            current = await _get(conn, assistant_id, lock=True)
            if current is None:
                raise rules.not_found(assistant_id)
            row = await (
                await conn.execute(
                    "SELECT * FROM assistant_versions WHERE assistant_id = %s AND version = %s",
                    (assistant_id, version),
                )
            ).fetchone()
            if row is None:
                raise rules.no_version(assistant_id, version)
            new = rules.restored(current, _version_row(row), now_iso())
            await _write_current(conn, new)
            return new
