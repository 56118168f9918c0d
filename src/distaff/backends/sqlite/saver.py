"""langgraph's checkpointer for SQLite, run on distaff's database thread.

`AsyncSqliteSaver` opens a second connection to the file. Two writers on one SQLite file take
turns through the file lock, and the loser sleeps in SQLite's busy handler (1 ms, then longer)
before retrying: under concurrent runs most of the time goes to those sleeps. langgraph's
synchronous `SqliteSaver`, run as jobs on the thread that already owns distaff's connection,
shares that connection instead: metadata and checkpoint writes queue behind each other in
memory, never on the file lock. Each call is still one thread hop, as with aiosqlite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite import SqliteSaver

from distaff.backends.sqlite.database import Database


class DatabaseSaver(SqliteSaver):
    def __init__(
        self, db: Database, conn: sqlite3.Connection, serde: SerializerProtocol | None = None
    ) -> None:
        super().__init__(conn, serde=serde)
        self._db = db

    async def asetup(self) -> None:
        await self._db.read(lambda _: self.setup())

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._db.read(lambda _: self.get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        items = await self._db.read(
            lambda _: list(self.list(config, filter=filter, before=before, limit=limit))
        )
        for item in items:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._db.write(lambda _: self.put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._db.write(lambda _: self.put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._db.write(lambda _: self.delete_thread(thread_id))

    async def aget_delta_channel_history(self, *args: Any, **kwargs: Any) -> Any:
        return await self._db.read(lambda _: self.get_delta_channel_history(*args, **kwargs))
