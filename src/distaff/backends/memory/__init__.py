"""The memory backend: nothing survives the process.

Metadata and the long-term store live in an in-memory SQLite database run by the same code as
the SQLite backend, so the two single-process backends cannot drift apart in policy or query
semantics; checkpoints are langgraph's in-memory saver.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.store.base import IndexConfig, TTLConfig

from distaff.backends.memory.checkpoints import MemoryCheckpointAdmin
from distaff.backends.sqlite import SqliteBackend
from distaff.backends.sqlite.database import Database


@contextlib.asynccontextmanager
async def open_memory(
    store_ttl: TTLConfig | None = None,
    store_index: IndexConfig | None = None,
    *,
    serde: SerializerProtocol | None = None,
) -> AsyncIterator[SqliteBackend]:
    db = Database(":memory:")
    try:
        await db.open()
        saver = InMemorySaver(serde=serde)
        yield await SqliteBackend.assemble(
            db,
            saver,
            MemoryCheckpointAdmin(saver),
            location="memory (nothing is kept after the process exits)",
            store_ttl=store_ttl,
            store_index=store_index,
        )
    finally:
        await db.close()
