"""langgraph's Postgres store, with filters that compare numbers as numbers.

langgraph compares `$gt`/`$gte`/`$lt`/`$lte` on the text of the value, so 10 < 9. Against a
number the comparison here is numeric (and false for a value that is not a number), as on the
SQLite backend.
"""

from __future__ import annotations

from typing import Any

from langgraph.store.postgres import AsyncPostgresStore

_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


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
