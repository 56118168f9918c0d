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
from distaff.backends.sqlite.assistants import SqliteAssistants
from distaff.backends.sqlite.database import Database
from distaff.backends.sqlite.runs import SqliteRuns
from distaff.backends.sqlite.threads import SqliteThreads


@contextlib.asynccontextmanager
async def open_memory() -> AsyncIterator[SqliteBackend]:
    db = Database(":memory:")
    try:
        await db.open()
        saver = InMemorySaver()
        yield SqliteBackend(
            db=db,
            assistants=SqliteAssistants(db),
            threads=SqliteThreads(db),
            runs=SqliteRuns(db),
            checkpointer=saver,
            store=InMemoryStore(),
            checkpoints=MemoryCheckpointAdmin(saver),
            location="memory (nothing is kept after the process exits)",
            durable=False,
        )
    finally:
        await db.close()
