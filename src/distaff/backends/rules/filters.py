"""What a search or count filters on: each query field as a `Condition` on a column.

A backend renders each kind of condition in its SQL (`where` in its `filters.py`); which fields
filter which columns, and how, is decided here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from distaff.models import AssistantQuery, CronQuery, Json, ThreadQuery

Kind = Literal["equals", "one_of", "contains", "substring", "auth"]
"""How `column` is compared with `value`:

- `equals`: the column is the value;
- `one_of`: the column is one of the values (a sequence, maybe empty: nothing matches);
- `contains`: the JSON column contains the JSON value (PostgreSQL's `@>`);
- `substring`: the text column contains the value, letter case aside (ASCII only);
- `auth`: the JSON column passes an auth handler's filter (`auth/filters.py`).
"""


@dataclass(frozen=True, slots=True)
class Condition:
    kind: Kind
    column: str
    value: Any


def assistants(query: AssistantQuery) -> list[Condition]:
    found = [*_metadata(query.metadata)]
    if query.graph_id is not None:
        found.append(Condition("equals", "graph_id", query.graph_id))
    if query.name is not None:
        found.append(Condition("substring", "name", query.name))
    return found + _auth(query.auth)


def versions(assistant_id: str, metadata: Json) -> list[Condition]:
    """An assistant's versions."""
    return [Condition("equals", "assistant_id", assistant_id), *_metadata(metadata)]


def threads(query: ThreadQuery) -> list[Condition]:
    found: list[Condition] = []
    if query.ids is not None:
        found.append(Condition("one_of", "thread_id", list(query.ids)))
    found += _metadata(query.metadata)
    if query.values:
        found.append(Condition("contains", "values", query.values))
    if query.status is not None:
        found.append(Condition("equals", "status", query.status))
    return found + _auth(query.auth)


def crons(query: CronQuery) -> list[Condition]:
    found: list[Condition] = []
    if query.assistant_id is not None:
        found.append(Condition("equals", "assistant_id", query.assistant_id))
    if query.thread_id is not None:
        found.append(Condition("equals", "thread_id", query.thread_id))
    if query.enabled is not None:
        found.append(Condition("equals", "enabled", bool(query.enabled)))
    return found + _metadata(query.metadata) + _auth(query.auth)


def _metadata(metadata: Json) -> list[Condition]:
    # An empty pattern matches everything: no condition at all.
    return [Condition("contains", "metadata", metadata)] if metadata else []


def _auth(flt: Json | None) -> list[Condition]:
    return [] if flt is None else [Condition("auth", "metadata", flt)]
