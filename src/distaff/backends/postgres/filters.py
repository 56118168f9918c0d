"""Auth handlers' filters (`auth/filters.py`) as SQL over a `jsonb` metadata column."""

from __future__ import annotations

from typing import Any

from distaff.backends.postgres.database import jsonb


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
