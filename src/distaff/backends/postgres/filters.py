"""Filters as PostgreSQL SQL: `rules.filters` conditions, and auth handlers' filters
(`distaff/filters.py`) over a `jsonb` metadata column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from distaff.backends.postgres.database import jsonb
from distaff.backends.rules.filters import Condition


def auth_clause(flt: dict[str, Any], column: str = "metadata") -> tuple[str, list[object]]:
    """A boolean SQL expression and its parameters, true where `matches(column, flt)` is."""
    parts: list[str] = []
    params: list[object] = []
    for key, condition in flt.items():
        if key in ("$or", "$and"):
            joined = " OR " if key == "$or" else " AND "
            subs = [auth_clause(part, column) for part in condition]
            parts.append("(" + joined.join(sql for sql, _ in subs) + ")")
            for _, values in subs:
                params.extend(values)
            continue
        op, expected = "$eq", condition
        if isinstance(condition, dict) and len(condition) == 1:
            (first,) = condition
            if str(first).startswith("$"):
                op, expected = first, condition[first]
        if op == "$eq":
            # jsonb equality: a missing key is NULL, which is not equal to anything.
            parts.append(f"({column} -> %s) = %s")
            params += [key, jsonb(expected)]
        else:
            wanted = expected if isinstance(expected, list) else [expected]
            parts.append(f"(jsonb_typeof({column} -> %s) = 'array' AND ({column} -> %s) @> %s)")
            params += [key, key, jsonb(wanted)]
    return " AND ".join(parts) or "true", params


def where_clause(conditions: Sequence[Condition]) -> tuple[str, list[object]]:
    """A WHERE clause (without the keyword) true where every condition is, and its parameters.
    Text compares by code point ("C" collation), as on SQLite."""
    clauses, params = ["TRUE"], list[object]()
    for c in conditions:
        column = f'"{c.column}"'
        if c.kind == "equals":
            clauses.append(f"{column} = %s")
            params.append(c.value)
        elif c.kind == "one_of":
            clauses.append(f"{column} = ANY(%s)")
            params.append(list(c.value))
        elif c.kind == "contains":
            clauses.append(f"{column} @> %s")
            params.append(jsonb(c.value))
        elif c.kind == "substring":
            # "C" makes lower() ASCII-only, as SQLite's is.
            clauses.append(f'strpos(lower({column} COLLATE "C"), lower(%s::text COLLATE "C")) > 0')
            params.append(c.value)
        else:
            clause, values = auth_clause(c.value, column)
            clauses.append(clause)
            params.extend(values)
    return " AND ".join(clauses), params
