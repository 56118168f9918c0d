"""What auth does with metadata filters (the language is `distaff/filters.py`): checks the
one a handler returns, derives the metadata a new resource must carry for its creator to see
it, and combines two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distaff.filters import COMBINATORS, OPERATORS, Filter, is_operator


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
        if key in COMBINATORS:
            if not isinstance(condition, list) or not condition:
                raise InvalidFilter(f"{key} takes a non-empty list of filters")
            for part in condition:
                check(part, depth + 1)
        elif key.startswith("$"):
            raise InvalidFilter(f"unknown filter operator {key!r} (use $or or $and)")
        elif is_operator(condition):
            (op,) = condition
            if op not in OPERATORS:
                raise InvalidFilter(f"unknown operator {op!r} on {key!r} (use $eq or $contains)")
    return dict(value)


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
        elif is_operator(condition):
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
