"""langgraph's Postgres store, with filters that compare numbers as numbers and, when
`store.index` is set, semantic search that behaves as on the SQLite backend.

langgraph compares `$gt`/`$gte`/`$lt`/`$lte` on the text of the value, so 10 < 9. Against a
number the comparison here is numeric (and false for a value that is not a number), as on the
SQLite backend.

What differs from langgraph's own `AsyncPostgresStore` when `store.index` is set:
- a batch's embeddings (indexed fields of puts, search queries) are computed in `abatch`,
  before any SQL runs; a failure of the embedding function, or vectors of the wrong number or
  size, is an `EmbeddingError` (a JSON 500 from the API) and nothing is written. langgraph
  embeds in the middle of the batch, after its reads and its write of the items themselves,
  and lets the embedding function's own exception through;
- a query search returns every item that matches the namespace and filter, the scored ones
  first by similarity (an item scores as its best vector) and then the unindexed ones with
  `score: null`, and `limit`/`offset` page through that whole list. langgraph's query joins
  the vectors, so unindexed items never appear, and ranks only the first
  `2 * limit * vectors-per-item + 1` vectors before `offset`, so later pages come back short
  or empty;
- a put replaces the item's vectors: langgraph upserts the item and then upserts one vector
  per indexed path, so vectors of paths the new value no longer has (a shorter list, other
  `index` paths, `index=False`) stay and keep scoring the old value.

`fields` of the index config needs nothing here: langgraph's Postgres store reads it (its SQLite
store reads `text_fields`, hence the mapping in `backends/sqlite/store.py`).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

from langgraph.store.base import Op, PutOp, Result, SearchOp
from langgraph.store.postgres import AsyncPostgresStore
from langgraph.store.postgres.base import get_distance_operator
from psycopg import AsyncCursor
from psycopg.rows import DictRow

from distaff.backends.postgres.database import translated
from distaff.backends.rules.store import Vectors, checked, embedding_failures, texts_to_embed

_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

#: The current batch's vectors by text, set by `abatch` around langgraph's batch. A context
#: variable, not an attribute: one store serves every request, and batches run concurrently.
_BATCH_VECTORS: contextvars.ContextVar[Vectors] = contextvars.ContextVar("distaff_store_vectors")

#: langgraph's plain (query-less) search: the select list, the namespace/filter/expiry
#: conditions, then the page. With `refresh_ttl` it sits inside a CTE that adds no parameters.
_PLAIN_SEARCH = re.compile(
    r"SELECT store\.prefix, store\.key, store\.value, store\.created_at, store\.updated_at,"
    r" NULL AS score\s+(?P<where>FROM store\s+WHERE\s.*?)\s+"
    r"ORDER BY store\.updated_at DESC\s+LIMIT %s\s+OFFSET %s",
    re.DOTALL,
)

_DELETE_VECTORS = """
    DELETE FROM store_vectors
    WHERE (prefix, key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""


class DistaffPostgresStore(AsyncPostgresStore):
    def _get_filter_condition(self, key: str, op: str, value: Any) -> tuple[str, list[Any]]:
        symbol = _COMPARISONS.get(op)
        if symbol is not None and isinstance(value, int | float) and not isinstance(value, bool):
            return (
                f"(CASE WHEN jsonb_typeof(value->%s) = 'number'"
                f" THEN (value->>%s)::numeric {symbol} %s END)",
                [key, key, value],
            )
        condition, params = super()._get_filter_condition(key, op, value)
        return condition, list(params)

    # -- embeddings, before any SQL --------------------------------------------------------

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        # Every store call ends here: the async methods through langgraph's batching task, the
        # sync ones (graph nodes on a thread of their own) through `batch`, which runs this on
        # the server's loop. Embed the whole batch first, so that a failing embedding function
        # stops the batch before it writes anything.
        operations = list(ops)
        found = await self._embed(self._texts(operations))
        token = _BATCH_VECTORS.set(found)
        try:
            with translated():  # a NUL character in a key, a value or a filter is a 422
                return await super().abatch(operations)
        finally:
            _BATCH_VECTORS.reset(token)

    def _texts(self, ops: Sequence[Op]) -> list[str]:
        if not self.index_config:
            return []
        fields = cast(dict[str, Any], self.index_config)["__tokenized_fields"]
        return texts_to_embed(ops, fields)

    async def _embed(self, texts: list[str]) -> Vectors:
        if not texts or self.embeddings is None or not self.index_config:
            return {}
        with embedding_failures():
            embedded = await self.embeddings.aembed_documents(texts)
        return checked(texts, embedded, self.index_config["dims"])

    @staticmethod
    def _vector(text: str) -> list[float]:
        try:
            return _BATCH_VECTORS.get()[text]
        except LookupError:
            raise RuntimeError(
                "DistaffPostgresStore: a batch ran without its embeddings (not through abatch)"
            ) from None

    # -- puts: precomputed vectors, and only the new value's -------------------------------

    async def _batch_put_ops(
        self, put_ops: Sequence[tuple[int, PutOp]], cur: AsyncCursor[DictRow]
    ) -> None:
        if not self.index_config:
            await super()._batch_put_ops(put_ops, cur)
            return
        # langgraph's statements: delete the deleted items (their vectors go by the foreign
        # key's cascade), upsert the others, and an upsert of their vectors, which it would
        # embed here.
        queries, request = self._prepare_batch_PUT_queries(put_ops)
        # An upsert keeps the row, so no cascade: drop the upserted items' old vectors, after
        # the upsert has locked their rows and before their new vectors go in.
        last = {(op.namespace, op.key): op for _, op in put_ops}
        upserted = [(".".join(ns), key) for (ns, key), op in last.items() if op.value is not None]
        if upserted:
            prefixes, keys = (list(column) for column in zip(*upserted, strict=True))
            queries.append((_DELETE_VECTORS, [prefixes, keys]))
        if request is not None:
            sql, rows = request
            params: list[Any] = []
            for prefix, key, path, text in rows:
                params += [prefix, key, path, self._vector(text)]
            queries.append((sql, params))
        for sql, args in queries:
            await cur.execute(sql, args)

    # -- query searches: every matching item, ranked ---------------------------------------

    def _prepare_batch_search_queries(
        self, search_ops: Sequence[tuple[int, SearchOp]]
    ) -> tuple[list[tuple[str, list[str | list[float] | None]]], list[tuple[int, str]]]:
        if not self.index_config:
            return super()._prepare_batch_search_queries(search_ops)
        queries = []
        for idx, op in search_ops:
            # langgraph's plain search gives the namespace, filter, expiry and TTL-refresh
            # SQL; the ranking goes around its select. The query's vector is already at hand,
            # so there is nothing left for langgraph to embed.
            [(sql, params)], _ = super()._prepare_batch_search_queries(
                [(idx, op._replace(query=None))]
            )
            if op.query:
                sql, params = self._ranked(sql, params, self._vector(op.query))
            queries.append((sql, params))
        return queries, []

    def _ranked(
        self, sql: str, params: list[str | list[float] | None], query: list[float]
    ) -> tuple[str, list[str | list[float] | None]]:
        found = list(_PLAIN_SEARCH.finditer(sql))
        if len(found) != 1 or "%s" in sql[found[0].end() :]:
            raise RuntimeError("langgraph's AsyncPostgresStore search query changed shape")
        [plain] = found
        distance, score = self._similarity()
        ranked = f"""
            SELECT c.prefix, c.key, c.value, c.created_at, c.updated_at, {score} AS score
            FROM (
                SELECT store.prefix, store.key, store.value, store.created_at, store.updated_at
                {plain["where"]}
            ) AS c
            LEFT JOIN LATERAL (
                SELECT min({distance}) AS neg_score
                FROM store_vectors sv
                WHERE sv.prefix = c.prefix AND sv.key = c.key
            ) AS best ON TRUE
            ORDER BY score DESC NULLS LAST, c.updated_at DESC, c.prefix, c.key
            LIMIT %s OFFSET %s
        """
        # The vector's placeholder comes after the conditions' and before the page's.
        return (
            sql[: plain.start()] + ranked + sql[plain.end() :],
            [*params[:-2], query, *params[-2:]],
        )

    def _similarity(self) -> tuple[str, str]:
        """The distance of vector `sv.embedding` to the query (smaller is closer), and the
        score of the closest one, `best.neg_score`, as langgraph reports it."""
        assert self.index_config
        distance, score = get_distance_operator(self)
        vector_type = self.index_config.get("ann_index_config", {}).get("vector_type", "vector")
        if vector_type not in ("vector", "halfvec"):
            raise ValueError(f"Invalid vector_type for pgvector: {vector_type}")
        return distance % ("%s", vector_type), score.replace("scored.", "best.")
