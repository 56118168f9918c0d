"""langgraph's SQLite store, run on distaff's database thread (see `saver.py` for why).

Every `BaseStore` async method goes through `abatch`, so that is the one method to bridge.
The memory backend uses the same store on its in-memory database: both single-process
backends get TTL and the same filter semantics from one implementation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from langgraph.store.base import Op, Result, TTLConfig
from langgraph.store.sqlite import SqliteStore

from distaff.backends.sqlite.database import Database


class DatabaseStore(SqliteStore):
    def __init__(
        self, db: Database, conn: sqlite3.Connection, ttl: TTLConfig | None = None
    ) -> None:
        super().__init__(conn, ttl=ttl)
        self._db = db

    async def asweep(self) -> int:
        return await self._db.read(lambda _: self.sweep_ttl())

    async def asetup(self) -> None:
        await self._db.read(lambda _: self.setup())

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        # `read`, not `write`: the store opens and commits its own transaction per batch.
        operations = list(ops)
        return await self._db.read(lambda _: self.batch(operations))
