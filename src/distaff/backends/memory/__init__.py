"""The memory backend: nothing survives the process.

Metadata lives in an in-memory SQLite database run by the same code as the SQLite backend, so
the two single-process backends cannot drift apart in policy or query semantics; checkpoints
and the store are langgraph's in-memory implementations.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from distaff.backends.memory.checkpoints import MemoryCheckpointAdmin
from distaff.backends.sqlite import SqliteBackend
from distaff.backends.sqlite.database import Database


@contextlib.asynccontextmanager
async def open_memory() -> AsyncIterator[SqliteBackend]:
    db = Database(":memory:")
    try:
        await db.open()
        saver = InMemorySaver()
        yield SqliteBackend.assemble(
            db,
            saver,
            InMemoryStore(),
            MemoryCheckpointAdmin(saver),
            location="memory (nothing is kept after the process exits)",
        )
    finally:
        await db.close()
