"""langgraph's SQLite store, run on distaff's database thread (see `saver.py` for why), with
semantic search that needs no SQLite extension.

Every `BaseStore` async method goes through `abatch`, and every sync one through `batch`: those
are the two doors. Both compute the batch's embeddings first, on the caller's side (an
embedding call may take a network round trip; the database thread must never wait for one),
then run langgraph's batch as one job on the database thread with the vectors at hand.

What differs from langgraph's own `SqliteStore` when `store.index` is set:
- ranking uses `vectors.SIMILARITY` instead of the sqlite-vec extension (see `vectors.py`);
- a query search returns every item that matches the namespace and filter, the scored ones
  first by similarity and then the unindexed ones with `score: null`, as the reference server
  does; langgraph's own query drops unindexed items, and its row limit of `2 * limit` before
  `offset` made every page after the second come back empty;
- `fields` in the index config is honoured (langgraph's SQLite store reads `text_fields`).

The memory backend uses the same store on its in-memory database: both single-process
backends get TTL, filters and ranking from one implementation.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, cast

from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig, Op, PutOp, Result, SearchOp, TTLConfig
from langgraph.store.sqlite import SqliteStore
from langgraph.store.sqlite.base import SqliteIndexConfig

from distaff.backends.rules.store import Vectors, checked, embedding_failures, texts_to_embed
from distaff.backends.sqlite import vectors
from distaff.backends.sqlite.database import Database

_ORDER = "ORDER BY updated_at DESC"


class DatabaseStore(SqliteStore):
    def __init__(
        self,
        db: Database,
        conn: sqlite3.Connection,
        ttl: TTLConfig | None = None,
        index: IndexConfig | None = None,
    ) -> None:
        sqlite_index: SqliteIndexConfig | None = None
        if index is not None:
            # langgraph's SQLite store reads the paths to embed from `text_fields`.
            fields = index.get("fields") or ["$"]
            sqlite_index = cast(SqliteIndexConfig, {**index, "text_fields": fields})
        super().__init__(conn, ttl=ttl, index=sqlite_index)
        self._db = db
        self._embedder: Embeddings | None = self.embeddings
        self._dims = index["dims"] if index is not None else 0
        #: The current batch's vectors by text; set only inside a database-thread job.
        self._vectors: Vectors = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        if index is not None:
            vectors.register(conn)

    # -- the two doors ---------------------------------------------------------------------

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        operations = list(ops)
        found = await self._embed(self._texts(operations))
        # `read`, not `write`: the store opens and commits its own transaction per batch.
        return await self._db.read(lambda _: self._run(operations, found))

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        # A sync graph node calls this on a thread of its own. Its embeddings are computed on
        # the server's event loop, so an async-only embedding function serves sync nodes too;
        # only a sync call made on the loop itself has to embed synchronously, in place.
        operations = list(ops)
        texts = self._texts(operations)
        loop = self._loop
        if texts and loop is not None and loop.is_running() and not _running_on(loop):
            found = asyncio.run_coroutine_threadsafe(self._embed(texts), loop).result()
        else:
            found = self._embed_here(texts)
        return self._db.call(lambda _: self._run(operations, found))

    def _run(self, ops: list[Op], found: Vectors) -> list[Result]:
        self._vectors = found
        try:
            return super().batch(ops)
        finally:
            self._vectors = {}

    # -- embeddings --------------------------------------------------------------------------

    def _texts(self, ops: Sequence[Op]) -> list[str]:
        if not self.index_config:
            return []
        return texts_to_embed(ops, self.index_config["__tokenized_fields"])  # type: ignore[typeddict-item]

    async def _embed(self, texts: list[str]) -> Vectors:
        if not texts or self._embedder is None:
            return {}
        with embedding_failures():
            return checked(texts, await self._embedder.aembed_documents(texts), self._dims)

    def _embed_here(self, texts: list[str]) -> Vectors:
        if not texts or self._embedder is None:
            return {}
        with embedding_failures():
            return checked(texts, self._embedder.embed_documents(texts), self._dims)

    # -- langgraph's hooks, run inside `_run` on the database thread ------------------------------

    def setup(self) -> None:
        # langgraph's setup loads sqlite-vec when an index is configured; run it without the
        # index, then create the vectors table the same way it would have.
        index, self.index_config = self.index_config, None
        try:
            super().setup()
        finally:
            self.index_config = index
        if index:
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS vector_migrations (v INTEGER PRIMARY KEY)"
            )
            row = self.conn.execute("SELECT max(v) FROM vector_migrations").fetchone()
            version = -1 if row[0] is None else row[0]
            for v, sql in enumerate(self.VECTOR_MIGRATIONS[version + 1 :], start=version + 1):
                self.conn.executescript(sql)
                self.conn.execute("INSERT INTO vector_migrations (v) VALUES (?)", (v,))

    def _batch_put_ops(self, put_ops: Sequence[tuple[int, PutOp]], cur: sqlite3.Cursor) -> None:
        if not self.index_config:
            super()._batch_put_ops(put_ops, cur)
            return
        # An item's old vectors go with its old row: `foreign_keys` is on (see `schema.py`),
        # so the REPLACE or DELETE of the row cascades to `store_vectors`.
        queries, request = self._prepare_batch_PUT_queries(put_ops)
        if request is not None:
            sql, texts = request
            params: list[Any] = []
            for ns, key, path, text in texts:
                params += [ns, key, path, vectors.pack(self._vectors[text])]
            queries.append((sql, params))
        for sql, args in queries:
            cur.execute(sql, args)

    def _prepare_batch_search_queries(
        self, search_ops: Sequence[tuple[int, SearchOp]]
    ) -> tuple[list[tuple[str, list[Any], bool]], list[tuple[int, str]]]:
        if not self.index_config:
            return super()._prepare_batch_search_queries(search_ops)
        queries = []
        for idx, op in search_ops:
            # langgraph's plain search gives the namespace and filter conditions; the ranking
            # goes around it.
            [(sql, params, refresh)], _ = super()._prepare_batch_search_queries(
                [(idx, op._replace(query=None))]
            )
            if op.query:
                sql, params = self._ranked(sql, params, vectors.pack(self._vectors[op.query]))
            queries.append((sql, params, refresh))
        return queries, []

    @staticmethod
    def _ranked(sql: str, params: list[Any], query: bytes) -> tuple[str, list[Any]]:
        where, order, page = sql.rpartition(_ORDER)
        if not order or page.split() != ["LIMIT", "?", "OFFSET", "?"]:
            raise RuntimeError("langgraph's SqliteStore search query changed shape")
        ranked = f"""
            SELECT c.prefix, c.key, c.value, c.created_at, c.updated_at, c.expires_at,
                   c.ttl_minutes,
                   (SELECT max({vectors.SIMILARITY}(v.embedding, ?)) FROM store_vectors v
                    WHERE v.prefix = c.prefix AND v.key = c.key) AS score
            FROM ({where}) AS c
            ORDER BY score IS NULL, score DESC, c.updated_at DESC
            LIMIT ? OFFSET ?
        """
        return ranked, [query, *params]

    # -- the sweeper and start-up, on the database thread ------------------------------------

    async def asweep(self) -> int:
        return await self._db.read(lambda _: self.sweep_ttl())

    async def asetup(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._db.read(lambda _: self.setup())


def _running_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
