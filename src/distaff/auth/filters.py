"""Authorization filters: what an `@auth.on` handler returns to limit a user to the resources
whose `metadata` matches.

    {"owner": "alice"}                          metadata.owner == "alice"
    {"owner": {"$eq": "alice"}}                 the same
    {"members": {"$contains": "alice"}}         "alice" is in the list metadata.members
    {"members": {"$contains": ["a", "b"]}}      both are
    {"$or": [{...}, {...}]}, {"$and": [...]}    any / all of the filters

Several keys in one filter must all match. The backends evaluate filters in SQL (searches and
counts page over matching rows only); `matches` is the same rule in Python, for one resource
already loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Filter = dict[str, Any]

_OPERATORS = ("$eq", "$contains")
_COMBINATORS = ("$or", "$and")


class InvalidFilter(ValueError):
    """An auth handler returned a filter that is not of the documented form."""


def check(value: Any, depth: int = 0) -> Filter:
    """`value` as a filter, or `InvalidFilter` saying what is wrong with it."""
    if not isinstance(value, Mapping):
        raise InvalidFilter(f"a filter must be a dict, got {type(value).__name__}")
    if depth > 8:
        raise InvalidFilter("a filter nests $or/$and more than 8 deep")
    for key, condition in value.items():
        if not isinstance(key, str):
            raise InvalidFilter(f"filter keys must be strings, got {key!r}")
        if key in _COMBINATORS:
            if not isinstance(condition, list) or not condition:
                raise InvalidFilter(f"{key} takes a non-empty list of filters")
            for part in condition:
                check(part, depth + 1)
        elif key.startswith("$"):
            raise InvalidFilter(f"unknown filter operator {key!r} (use $or or $and)")
        elif _is_operator(condition):
            (op,) = condition
            if op not in _OPERATORS:
                raise InvalidFilter(f"unknown operator {op!r} on {key!r} (use $eq or $contains)")
    return dict(value)


def _is_operator(condition: Any) -> bool:
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
        elif _is_operator(condition):
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


def owned(flt: Filter | None) -> dict[str, Any]:
    """The metadata a resource created under `flt` must carry for its creator to see it: the
    filter's plain equalities (`$and` included; `$or` and `$contains` say nothing certain)."""
    stamp: dict[str, Any] = {}
    for key, condition in (flt or {}).items():
        if key == "$and":
            for part in condition:
                stamp.update(owned(part))
        elif key == "$or" or key.startswith("$"):
            continue
        elif _is_operator(condition):
            ((op, expected),) = condition.items()
            if op == "$eq":
                stamp[key] = expected
        else:
            stamp[key] = condition
    return stamp


def both(first: Filter | None, second: Filter | None) -> Filter | None:
    """A filter that passes what passes both."""
    if first is None or not first:
        return second or None
    if second is None or not second:
        return first
    return {"$and": [first, second]}
