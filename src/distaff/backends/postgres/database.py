"""One psycopg connection pool per process, shared by the metadata repositories, langgraph's
checkpointer and langgraph's store; and the edge where driver errors become distaff's.

Connections are in autocommit mode with dict rows, as langgraph's Postgres saver and store
require of a shared pool; a repository operation that is several statements runs inside
`transaction()`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Json as JsonParam
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from distaff.errors import DistaffError, InvalidInput, Unavailable
from distaff.ids import isoformat
from distaff.serde import dumps

log = logging.getLogger("distaff.postgres")

Connection = AsyncConnection[DictRow]


def _dumps(value: Any) -> str:
    return dumps(value).decode()


def jsonb(value: Any) -> Jsonb:
    """A parameter for a `jsonb` column (metadata, values: searched by containment)."""
    return Jsonb(value, dumps=_dumps)


def json(value: Any) -> JsonParam | None:
    """A parameter for a `json` column: kept as written, key order included. NULL for None."""
    return None if value is None else JsonParam(value, dumps=_dumps)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else isoformat(moment)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Driver errors that are the client's doing or the database's absence, as distaff's."""
    try:
        yield
    except DistaffError:
        raise
    except (psycopg.errors.UntranslatableCharacter, psycopg.errors.CharacterNotInRepertoire) as e:
        # jsonb refuses "\u0000" in strings; SQLite stored it. Say so instead of failing.
        raise InvalidInput(f"the database cannot store this value: {e.diag.message_primary}") from e
    except psycopg.errors.NumericValueOutOfRange as e:
        raise InvalidInput(f"a number is out of range: {e.diag.message_primary}") from e
    except psycopg.OperationalError as e:
        raise Unavailable(f"the database is unavailable: {e}") from e


def _options(url: str, sender: str | None) -> dict[str, str]:
    """Connection `options` that add `distaff.sender` to those of the URL (or PGOPTIONS)."""
    if sender is None:
        return {}
    given = conninfo_to_dict(url).get("options") or os.environ.get("PGOPTIONS") or ""
    escaped = sender.replace("\\", "\\\\").replace(" ", "\\ ")
    return {"options": f"{given} -c distaff.sender={escaped}".strip()}


class Database:
    def __init__(
        self, url: str, *, sender: str | None = None, min_size: int = 2, max_size: int = 20
    ) -> None:
        """`sender` names this process to the database: its `runs` trigger puts it in the
        notifications this process's transactions send."""
        self.pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            # What langgraph's saver and store need of pooled connections; prepared statements
            # off, so the pool also works behind pgbouncer in transaction mode.
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "prepare_threshold": None,
                **_options(url, sender),
            },
            name="distaff",
        )

    async def open(self) -> None:
        with translated():
            await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection in autocommit mode: each statement commits on its own."""
        with translated():
            async with self.pool.connection() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection inside one transaction, committed when the block ends."""
        with translated():
            async with self.pool.connection() as conn, conn.transaction():
                yield conn

    async def fetchall(self, sql: str, params: Any = None) -> list[DictRow]:
        async with self.connection() as conn:
            return await (await conn.execute(sql, params)).fetchall()

    async def fetchone(self, sql: str, params: Any = None) -> DictRow | None:
        async with self.connection() as conn:
            return await (await conn.execute(sql, params)).fetchone()

    async def execute(self, sql: str, params: Any = None) -> int:
        """Run one statement; returns the rows it touched."""
        async with self.connection() as conn:
            return (await conn.execute(sql, params)).rowcount
