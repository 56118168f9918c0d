"""The SQLite backend: the CLI's default, one file, durable across restarts.

Metadata, checkpoints and the long-term store share one connection on one thread
(`database.py`, `saver.py`, `store.py`), so their writes never contend for the file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.store.base import IndexConfig, TTLConfig

from distaff.backends.base import CheckpointAdmin
from distaff.backends.sqlite.assistants import SqliteAssistants
from distaff.backends.sqlite.checkpoints import SqliteCheckpointAdmin
from distaff.backends.sqlite.crons import SqliteCrons
from distaff.backends.sqlite.database import Database
from distaff.backends.sqlite.events import SqliteEvents
from distaff.backends.sqlite.runs import SqliteRuns
from distaff.backends.sqlite.saver import DatabaseSaver
from distaff.backends.sqlite.store import DatabaseStore
from distaff.backends.sqlite.threads import SqliteThreads
from distaff.errors import ConfigError


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
    events: SqliteEvents
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
            events=SqliteEvents(db),
            location=location,
        )

    async def sweep_store(self) -> int:
        return await self.store.asweep()

    async def reclaim_space(self) -> int:
        return await self.db.reclaim()

    async def check(self) -> None:
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())


@contextlib.contextmanager
def sole_process(file: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the database file for as long as the backend is open.

    A second process on the same file would take over the first one's running runs (they
    would execute twice, at once) and its waits, streams and cancels through the other process
    would hang: nothing relays between processes on SQLite. So it refuses to start, naming the
    process that holds the file. The lock is the OS's (`flock`): it goes with the process,
    however it ends, so a crash leaves nothing to clean up.
    """
    lock_path = file.with_name(file.name + ".lock")
    handle = lock_path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ConfigError(
                f"{file.resolve()} is in use by another distaff process (pid {holder}):"
                " a SQLite database serves one process. Stop that one, or use PostgreSQL"
                " (database_url postgresql://...) to run several."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


@contextlib.asynccontextmanager
async def open_sqlite(
    path: str,
    store_ttl: TTLConfig | None = None,
    store_index: IndexConfig | None = None,
    *,
    serde: SerializerProtocol | None = None,
) -> AsyncIterator[SqliteBackend]:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(sole_process(file))
        db = Database(str(file))
        stack.push_async_callback(db.close)  # registered first: a half-open db still closes
        await db.open()
        saver = DatabaseSaver(db, db.connection, serde)
        await saver.asetup()
        yield await SqliteBackend.assemble(
            db,
            saver,
            SqliteCheckpointAdmin(db, saver),
            location=f"SQLite file {file.resolve()}",
            store_ttl=store_ttl,
            store_index=store_index,
        )
