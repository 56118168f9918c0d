"""The SQLite backend: the CLI's default, one file, durable across restarts.

Metadata and checkpoints share one connection on one thread (`database.py`, `saver.py`), so
their writes never contend for the file lock; langgraph's store has its own aiosqlite
connection (store writes are rare). WAL lets readers proceed during a write.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from distaff.backends.base import CheckpointAdmin
from distaff.backends.sqlite.assistants import SqliteAssistants
from distaff.backends.sqlite.checkpoints import SqliteCheckpointAdmin
from distaff.backends.sqlite.database import Database
from distaff.backends.sqlite.runs import SqliteRuns
from distaff.backends.sqlite.saver import DatabaseSaver
from distaff.backends.sqlite.threads import SqliteThreads


@dataclass
class SqliteBackend:
    db: Database
    assistants: SqliteAssistants
    threads: SqliteThreads
    runs: SqliteRuns
    checkpointer: BaseCheckpointSaver[Any]
    store: BaseStore
    checkpoints: CheckpointAdmin
    location: str

    @classmethod
    def assemble(
        cls,
        db: Database,
        checkpointer: BaseCheckpointSaver[Any],
        store: BaseStore,
        checkpoints: CheckpointAdmin,
        *,
        location: str,
    ) -> SqliteBackend:
        """The metadata repositories on `db`, with the given checkpoint and store layer."""
        return cls(
            db=db,
            assistants=SqliteAssistants(db),
            threads=SqliteThreads(db),
            runs=SqliteRuns(db),
            checkpointer=checkpointer,
            store=store,
            checkpoints=checkpoints,
            location=location,
        )

    async def check(self) -> None:
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())


async def _aiosqlite(path: str) -> aiosqlite.Connection:
    # langgraph's store issues its own BEGIN/COMMIT, so it needs autocommit.
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA busy_timeout=10000")
    return conn


@contextlib.asynccontextmanager
async def open_sqlite(path: str) -> AsyncIterator[SqliteBackend]:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        db = Database(str(file))
        stack.push_async_callback(db.close)  # registered first: a half-open db still closes
        await db.open()
        saver = DatabaseSaver(db, db.connection)
        await saver.asetup()
        store_conn = await _aiosqlite(str(file))
        stack.push_async_callback(store_conn.close)
        store = AsyncSqliteStore(store_conn)
        await store.setup()
        yield SqliteBackend.assemble(
            db,
            saver,
            store,
            SqliteCheckpointAdmin(db, saver),
            location=f"SQLite file {file.resolve()}",
        )
