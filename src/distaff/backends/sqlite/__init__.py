"""The SQLite backend: the CLI's default, one file, durable across restarts.

Metadata, checkpoints and the long-term store share one connection on one thread
(`database.py`, `saver.py`, `store.py`), so their writes never contend for the file lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import IndexConfig, TTLConfig

from distaff.backends.base import CheckpointAdmin
from distaff.backends.sqlite.assistants import SqliteAssistants
from distaff.backends.sqlite.checkpoints import SqliteCheckpointAdmin
from distaff.backends.sqlite.crons import SqliteCrons
from distaff.backends.sqlite.database import Database
from distaff.backends.sqlite.runs import SqliteRuns
from distaff.backends.sqlite.saver import DatabaseSaver
from distaff.backends.sqlite.store import DatabaseStore
from distaff.backends.sqlite.threads import SqliteThreads


@dataclass
class SqliteBackend:
    db: Database
    assistants: SqliteAssistants
    threads: SqliteThreads
    runs: SqliteRuns
    checkpointer: BaseCheckpointSaver[Any]
    store: DatabaseStore
    checkpoints: CheckpointAdmin
    crons: SqliteCrons
    location: str
    #: One process per database: nothing to relay.
    relay: None = None

    @classmethod
    async def assemble(
        cls,
        db: Database,
        checkpointer: BaseCheckpointSaver[Any],
        checkpoints: CheckpointAdmin,
        *,
        location: str,
        store_ttl: TTLConfig | None = None,
        store_index: IndexConfig | None = None,
    ) -> SqliteBackend:
        """The repositories and the long-term store on the open `db`, with the given
        checkpoint layer (the file's own, or langgraph's in-memory saver)."""
        store = DatabaseStore(db, db.connection, store_ttl, store_index)
        await store.asetup()
        return cls(
            db=db,
            assistants=SqliteAssistants(db),
            threads=SqliteThreads(db),
            runs=SqliteRuns(db),
            checkpointer=checkpointer,
            store=store,
            checkpoints=checkpoints,
            crons=SqliteCrons(db),
            location=location,
        )

    async def sweep_store(self) -> int:
        return await self.store.asweep()

    async def check(self) -> None:
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())


@contextlib.asynccontextmanager
async def open_sqlite(
    path: str, store_ttl: TTLConfig | None = None, store_index: IndexConfig | None = None
) -> AsyncIterator[SqliteBackend]:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        db = Database(str(file))
        stack.push_async_callback(db.close)  # registered first: a half-open db still closes
        await db.open()
        saver = DatabaseSaver(db, db.connection)
        await saver.asetup()
        yield await SqliteBackend.assemble(
            db,
            saver,
            SqliteCheckpointAdmin(db, saver),
            location=f"SQLite file {file.resolve()}",
            store_ttl=store_ttl,
            store_index=store_index,
        )
