"""The PostgreSQL backend: several processes on one database.

One connection pool per process serves the metadata repositories, langgraph's checkpointer
(`AsyncPostgresSaver`, fenced by leases and writing a checkpoint in one statement: see
`saver.py`) and langgraph's store (`AsyncPostgresStore`, with pgvector for `store.index`).
Schemas are migrated at start-up under an advisory lock, so replicas may start together. The
relay (`relay.py`) carries wake-ups, cancels and stream events between the processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.store.base import IndexConfig, TTLConfig
from langgraph.store.postgres.base import PostgresIndexConfig

from distaff.backends.message_reuse import reusing
from distaff.backends.postgres.assistants import PostgresAssistants
from distaff.backends.postgres.checkpoints import PostgresCheckpointAdmin
from distaff.backends.postgres.claims import owner_id
from distaff.backends.postgres.crons import PostgresCrons
from distaff.backends.postgres.database import Database, translated
from distaff.backends.postgres.events import PostgresEvents
from distaff.backends.postgres.leases import Leases
from distaff.backends.postgres.relay import PostgresRelay
from distaff.backends.postgres.runs import PostgresRuns
from distaff.backends.postgres.saver import FencedSaver
from distaff.backends.postgres.schema import migrate, migration_lock
from distaff.backends.postgres.store import DistaffPostgresStore
from distaff.backends.postgres.threads import PostgresThreads
from distaff.errors import ConfigError


@dataclass
class PostgresBackend:
    db: Database
    assistants: PostgresAssistants
    threads: PostgresThreads
    runs: PostgresRuns
    checkpointer: FencedSaver
    store: DistaffPostgresStore
    checkpoints: PostgresCheckpointAdmin
    crons: PostgresCrons
    events: PostgresEvents
    relay: PostgresRelay
    location: str

    async def sweep_store(self) -> int:
        with translated():
            return await self.store.sweep_ttl()

    async def reclaim_space(self) -> int:
        return 0  # autovacuum makes dead rows' space reusable; nothing to do here

    async def check(self) -> None:
        await self.db.fetchone("SELECT 1")


def _describe(url: str) -> str:
    """The URL without its password, for logs."""
    rest = url.split("://", 1)[-1]
    return "PostgreSQL " + rest.rsplit("@", 1)[-1]


async def _require_pgvector(db: Database) -> None:
    row = await db.fetchone("SELECT name FROM pg_available_extensions WHERE name = 'vector'")
    if row is None:
        raise ConfigError(
            "store.index needs the PostgreSQL extension 'vector' (pgvector), which this"
            " PostgreSQL server does not have: install it (e.g. the postgresql-<version>-pgvector"
            " package) or remove store.index"
        )


@contextlib.asynccontextmanager
async def open_postgres(
    url: str,
    store_ttl: TTLConfig | None = None,
    store_index: IndexConfig | None = None,
    *,
    lease_seconds: float = 20.0,
    serde: SerializerProtocol | None = None,
) -> AsyncIterator[PostgresBackend]:
    owner = owner_id()
    db = Database(url, sender=owner)
    try:
        await db.open()
        if store_index is not None:
            await _require_pgvector(db)
        leases = Leases(lease_seconds)
        saver = FencedSaver(conn=db.pool, serde=reusing(serde))
        saver.leases = leases
        index = cast(PostgresIndexConfig | None, store_index)
        store = DistaffPostgresStore(conn=db.pool, index=index, ttl=store_ttl)
        with translated():
            # langgraph's own migrations take no lock: replicas starting together queue here.
            async with migration_lock(db) as conn:
                await migrate(conn)
                await saver.setup()
                await store.setup()
        yield PostgresBackend(
            db=db,
            assistants=PostgresAssistants(db),
            threads=PostgresThreads(db),
            runs=PostgresRuns(db, owner, leases),
            checkpointer=saver,
            store=store,
            checkpoints=PostgresCheckpointAdmin(db, saver),
            crons=PostgresCrons(db),
            events=PostgresEvents(db, owner),
            relay=PostgresRelay(db, url, owner),
            location=_describe(url),
        )
    finally:
        await db.close()
