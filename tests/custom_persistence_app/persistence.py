"""The custom checkpointer and store the manifest names: langgraph's own aiosqlite savers,
each on a file of its own (`CUSTOM_SAVER_DB`, `CUSTOM_STORE_DB`), so the tests can read what
they received. The saver is an async context manager (as `from_conn_string` gives one), the
store an async factory of one: two of the shapes `checkpointer.path` and `store.path` accept."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.store.sqlite.aio import AsyncSqliteStore

saver = AsyncSqliteSaver.from_conn_string(os.environ["CUSTOM_SAVER_DB"])


@contextlib.asynccontextmanager
async def _store() -> AsyncIterator[AsyncSqliteStore]:
    async with AsyncSqliteStore.from_conn_string(os.environ["CUSTOM_STORE_DB"]) as store:
        yield store


async def make_store() -> contextlib.AbstractAsyncContextManager[AsyncSqliteStore]:
    return _store()
