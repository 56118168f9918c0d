"""Assistants and their versions in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from distaff.backends.rules import assistants as rules
from distaff.backends.rules import filters, sorting
from distaff.backends.sqlite.database import Database, dump, load
from distaff.backends.sqlite.filters import where_clause
from distaff.ids import now_iso
from distaff.models import Assistant, AssistantQuery, AssistantVersion, Json, Page


def _row(row: sqlite3.Row) -> Assistant:
    return {
        "assistant_id": row["assistant_id"],
        "graph_id": row["graph_id"],
        "config": load(row["config"]),
        "context": load(row["context"]),
        "metadata": load(row["metadata"]),
        "name": row["name"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "version": row["version"],
        "description": row["description"],
    }


def _version_row(row: sqlite3.Row) -> AssistantVersion:
    return {
        "assistant_id": row["assistant_id"],
        "version": row["version"],
        "graph_id": row["graph_id"],
        "config": load(row["config"]),
        "context": load(row["context"]),
        "metadata": load(row["metadata"]),
        "created_at": row["created_at"],
        "name": row["name"],
        "description": row["description"],
    }


def _insert(conn: sqlite3.Connection, a: Assistant) -> None:
    values = (
        a["assistant_id"],
        a["graph_id"],
        dump(a["config"]),
        dump(a["context"]),
        dump(a["metadata"]),
        a["name"],
        a["description"],
        a["version"],
    )
    conn.execute(
        "INSERT INTO assistants (assistant_id, graph_id, config, context, metadata, name,"
        " description, version, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (*values, a["created_at"], a["updated_at"]),
    )
    conn.execute(
        "INSERT INTO assistant_versions (assistant_id, graph_id, config, context, metadata, name,"
        " description, version, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (*values, a["created_at"]),
    )


def _get(conn: sqlite3.Connection, assistant_id: str) -> Assistant | None:
    row = conn.execute(
        "SELECT * FROM assistants WHERE assistant_id = ?", (assistant_id,)
    ).fetchone()
    return _row(row) if row else None


class SqliteAssistants:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(self, assistants: Sequence[Assistant]) -> None:
        def job(conn: sqlite3.Connection) -> None:
            for a in assistants:
                if _get(conn, a["assistant_id"]) is None:
                    _insert(conn, a)

        await self._db.write(job)

    async def create(self, assistant: Assistant, *, do_nothing: bool) -> Assistant:
        def job(conn: sqlite3.Connection) -> Assistant:
            existing = _get(conn, assistant["assistant_id"])
            if existing is not None:
                return rules.if_exists(existing, do_nothing=do_nothing)
            _insert(conn, assistant)
            return assistant

        return await self._db.write(job)

    async def get(self, assistant_id: str) -> Assistant | None:
        return await self._db.read(_get, assistant_id)

    async def update(self, assistant_id: str, changes: Json) -> Assistant:
        def job(conn: sqlite3.Connection) -> Assistant:
            current = _get(conn, assistant_id)
            if current is None:
                raise rules.not_found(assistant_id)
            latest = conn.execute(
                "SELECT max(version) FROM assistant_versions WHERE assistant_id = ?",
                (assistant_id,),
            ).fetchone()[0]
            now = now_iso()
            new = rules.new_version(current, changes, latest, now)
            conn.execute(
                "INSERT INTO assistant_versions (assistant_id, graph_id, config, context, metadata,"
                " name, description, version, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    assistant_id,
                    new["graph_id"],
                    dump(new["config"]),
                    dump(new["context"]),
                    dump(new["metadata"]),
                    new["name"],
                    new["description"],
                    new["version"],
                    now,
                ),
            )
            _write_current(conn, new)
            return new

        return await self._db.write(job)

    async def delete(self, assistant_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            # Its crons too: left behind, they would fire runs of an assistant that is gone.
            conn.execute("DELETE FROM crons WHERE assistant_id = ?", (assistant_id,))
            cur = conn.execute("DELETE FROM assistants WHERE assistant_id = ?", (assistant_id,))
            return cur.rowcount > 0

        return await self._db.write(job)

    async def search(self, query: AssistantQuery, page: Page) -> list[Assistant]:
        where, params = where_clause(filters.assistants(query))
        column = sorting.sort_key(sorting.ASSISTANTS, query.sort_by)
        order = sorting.direction(query.sort_order)
        sql = (
            f"SELECT * FROM assistants WHERE {where} ORDER BY {column} {order}, assistant_id"
            f" {order} LIMIT ? OFFSET ?"
        )

        def job(conn: sqlite3.Connection) -> list[Assistant]:
            rows = conn.execute(sql, (*params, page.limit, page.offset)).fetchall()
            return [_row(r) for r in rows]

        return await self._db.read(job)

    async def count(self, query: AssistantQuery) -> int:
        where, params = where_clause(filters.assistants(query))

        def job(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(f"SELECT count(*) FROM assistants WHERE {where}", params).fetchone()[0]
            )

        return await self._db.read(job)

    async def versions(
        self, assistant_id: str, metadata: Json, page: Page
    ) -> list[AssistantVersion]:
        def job(conn: sqlite3.Connection) -> list[AssistantVersion]:
            where, params = where_clause(filters.versions(assistant_id, metadata))
            sql = (
                f"SELECT * FROM assistant_versions WHERE {where}"
                " ORDER BY version DESC LIMIT ? OFFSET ?"
            )
            rows = conn.execute(sql, (*params, page.limit, page.offset)).fetchall()
            return [_version_row(r) for r in rows]

        return await self._db.read(job)

    async def set_latest(self, assistant_id: str, version: int) -> Assistant:
        def job(conn: sqlite3.Connection) -> Assistant:
            current = _get(conn, assistant_id)
            if current is None:
                raise rules.not_found(assistant_id)
            row = conn.execute(
                "SELECT * FROM assistant_versions WHERE assistant_id = ? AND version = ?",
                (assistant_id, version),
            ).fetchone()
            if row is None:
                raise rules.no_version(assistant_id, version)
            new = rules.restored(current, _version_row(row), now_iso())
            _write_current(conn, new)
            return new

        return await self._db.write(job)


def _write_current(conn: sqlite3.Connection, a: Assistant) -> None:
    conn.execute(
        "UPDATE assistants SET graph_id=?, config=?, context=?, metadata=?, name=?, description=?,"
        " version=?, updated_at=? WHERE assistant_id=?",
        (
            a["graph_id"],
            dump(a["config"]),
            dump(a["context"]),
            dump(a["metadata"]),
            a["name"],
            a["description"],
            a["version"],
            a["updated_at"],
            a["assistant_id"],
        ),
    )
