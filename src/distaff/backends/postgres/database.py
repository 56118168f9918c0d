"""One psycopg connection pool per process, shared by the metadata repositories, langgraph's
checkpointer and langgraph's store; and the edge where driver errors become distaff's.

Connections are in autocommit mode with dict rows, as langgraph's Postgres saver and store
require of a shared pool; a repository operation that is several statements runs inside
`transaction()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
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


def _dumps(value: Any) -> bytes:
    return dumps(value)  # psycopg sends bytes as they are (a str it would encode again)


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
    except psycopg.DataError as e:
        # Values PostgreSQL refuses: a NUL character in a text column (refused by psycopg
        # itself, before sending), a malformed value for a column's type.
        raise InvalidInput(f"the database cannot store this value: {e}") from e
    except psycopg.OperationalError as e:
        raise Unavailable(f"the database is unavailable: {e}") from e


def _options(url: str, sender: str | None) -> dict[str, str]:
    """Connection `options` that add `distaff.sender` to those of the URL (or PGOPTIONS)."""
    if sender is None:
        return {}
    given = conninfo_to_dict(url).get("options") or os.environ.get("PGOPTIONS") or ""
    escaped = sender.replace("\\", "\\\\").replace(" ", "\\ ")
    return {"options": f"{given} -c distaff.sender={escaped}".strip()}


#: Errors that end a transaction, not the connection (SQLSTATE class 40).
_TRANSACTION_ENDED = (
    psycopg.errors.TransactionRollback,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
)


class GuardedPool(AsyncConnectionPool[Connection]):
    """The pool every user of the database goes through (the repositories, langgraph's saver
    and store), which knows when PostgreSQL is away.

    psycopg's pool, once its server stops, makes each request wait for a connection up to its
    timeout (30 s), and after the server returns it reconnects on an exponential backoff (a
    35 s outage took 22 s more to heal). Here the first connection error marks the database
    down: from then on a request costs one quick probe (a fresh connection, at most one every
    half second, shared by all) and fails at once with `Unavailable` (503) while the probe
    fails; the first probe that succeeds marks it up and has the pool replace its broken
    connections right away. Errors of the connection are `Unavailable` for every user, so a
    run whose checkpoint could not be written is handed back, not failed.
    """

    #: How long one probe may take to connect (an unreachable host; a stopped one refuses at
    #: once).
    PROBE_TIMEOUT = 2
    #: The least time between two probes while the database is down.
    PROBE_INTERVAL = 0.5

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._url = url
        self._probe_kwargs = {
            k: v for k, v in (kwargs.get("kwargs") or {}).items() if k in ("options",)
        }
        self._down = False
        self._probed_at = 0.0
        self._probe_lock: asyncio.Lock | None = None

    def lost(self) -> None:
        if not self._down:
            log.warning("lost the connection to PostgreSQL; answering 503 until it is back")
        self._down = True

    async def ready(self) -> None:
        """Return if the database can be used; raise `Unavailable` at once if it cannot."""
        if not self._down:
            return
        if self._probe_lock is None:
            self._probe_lock = asyncio.Lock()
        async with self._probe_lock:
            if not self._down:
                return  # another request's probe found it back
            if time.monotonic() - self._probed_at < self.PROBE_INTERVAL:
                raise Unavailable("the database is unavailable (reconnecting)")
            self._probed_at = time.monotonic()
            try:
                probe = await psycopg.AsyncConnection.connect(
                    self._url, connect_timeout=self.PROBE_TIMEOUT, **self._probe_kwargs
                )
                await probe.close()
            except psycopg.OperationalError as exc:
                raise Unavailable(f"the database is unavailable: {exc}") from exc
            self._down = False
            log.warning("PostgreSQL is back")
            await self.check()  # replace the connections that broke with it, now

    @contextlib.asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Connection]:
        await self.ready()
        try:
            async with super().connection(timeout) as conn:
                yield conn
        except psycopg.OperationalError as exc:
            if isinstance(exc, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable):
                raise  # the statement's own trouble, not the connection's
            if not isinstance(exc, _TRANSACTION_ENDED):
                # (A deadlock or a serialization failure ends the transaction, not the
                # connection: worth another try, with no outage declared for everyone.)
                self.lost()
            raise Unavailable(f"the database is unavailable: {exc}") from exc


class Database:
    def __init__(
        self, url: str, *, sender: str | None = None, min_size: int = 2, max_size: int = 20
    ) -> None:
        """`sender` names this process to the database: its `runs` trigger puts it in the
        notifications this process's transactions send."""
        self.pool = GuardedPool(
            url,
            min_size=min_size,
            max_size=max_size,
            # A busy pool frees a connection within milliseconds; waiting longer than this means
            # something is wrong, and the client is better told so (503).
            timeout=10.0,
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
