"""Metadata filters, the language an `@auth.on` handler limits a user with: a resource passes
when its `metadata` matches.

    {"owner": "alice"}                          metadata.owner == "alice"
    {"owner": {"$eq": "alice"}}                 the same
    {"members": {"$contains": "alice"}}         "alice" is in the list metadata.members
    {"members": {"$contains": ["a", "b"]}}      both are
    {"$or": [{...}, {...}]}, {"$and": [...]}    any / all of the filters

Several keys in one filter must all match. The backends evaluate filters in SQL (searches and
counts page over matching rows only); `matches` is the same rule in Python, for one resource
already loaded. What auth does with filters (checking a handler's, combining two, stamping a
new resource) is in `auth/filters.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Filter = dict[str, Any]

OPERATORS = ("$eq", "$contains")
COMBINATORS = ("$or", "$and")


def is_operator(condition: Any) -> bool:
    """Whether a key's condition is `{"$op": value}` rather than a value to equal."""
    return (
        isinstance(condition, Mapping)
        and len(condition) == 1
        and str(next(iter(condition))).startswith("$")
    )


def matches(metadata: Mapping[str, Any] | None, flt: Filter | None) -> bool:
    """Whether a resource with this metadata passes the filter (None passes everything)."""
    if flt is None:
        return True
    metadata = metadata or {}
    for key, condition in flt.items():
        if key == "$or":
            if not any(matches(metadata, part) for part in condition):
                return False
        elif key == "$and":
            if not all(matches(metadata, part) for part in condition):
                return False
        elif is_operator(condition):
            ((op, expected),) = condition.items()
            if key not in metadata:
                return False
            if op == "$eq":
                if not _same(metadata[key], expected):
                    return False
            elif not _contains(metadata[key], expected):
                return False
        elif key not in metadata or not _same(metadata[key], condition):
            return False
    return True


def _same(a: Any, b: Any) -> bool:
    """JSON equality, as the databases compare: `true` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _contains(actual: Any, expected: Any) -> bool:
    if not isinstance(actual, list):
        return False
    wanted = expected if isinstance(expected, list) else [expected]
    return all(any(_same(have, want) for have in actual) for want in wanted)
