"""Search order: each repository sorts by the fields the API lets a client name, both ways,
text by code point, missing values lowest, ties broken by id; and it refuses any other field
before SQL is written (the field names a column, so it is never a parameter)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from distaff.backends.base import Backend
from distaff.errors import InvalidInput
from distaff.models import AssistantQuery, CronQuery, Page, SortOrder, ThreadQuery
from tests.backends.records import assistant, cron, snapshot, thread, whole_seconds

#: What the API's search bodies accept for `sort_by` (`api/schemas.py`).
ASSISTANT_FIELDS = ("assistant_id", "created_at", "updated_at", "name", "graph_id")
THREAD_FIELDS = ("thread_id", "status", "created_at", "updated_at", "state_updated_at")
CRON_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "next_run_date",
    "end_time",
    "created_at",
    "updated_at",
)
ORDERS: tuple[SortOrder, ...] = ("asc", "desc")

#: Text whose code-point order differs from a locale's ("B" < "_" < "a").
NAMES = ("alpha", "Beta", "_gamma", "beta", "Alpha")


def _expected(
    rows: Sequence[Mapping[str, Any]], field: str, id_field: str, order: str
) -> list[str]:
    def key(row: Mapping[str, Any]) -> tuple[bool, str, str]:
        value = row[field]
        return (value is not None, "" if value is None else str(value), row[id_field])

    return [row[id_field] for row in sorted(rows, key=key, reverse=order == "desc")]


async def _check(
    search: Callable[[str, SortOrder], Awaitable[Sequence[Mapping[str, Any]]]],
    fields: Sequence[str],
    id_field: str,
) -> None:
    for field in fields:
        for order in ORDERS:
            found = await search(field, order)
            assert len(found) == len(NAMES)
            assert [row[id_field] for row in found] == _expected(found, field, id_field, order), (
                field,
                order,
            )


async def test_assistants_sort_by_each_allowed_field(backend: Backend) -> None:
    for i, name in enumerate(NAMES):
        graph = NAMES[(i * 2) % len(NAMES)]
        a = assistant(f"{name}-{i}", name=name, graph_id=graph, created=-i * (-1) ** i)
        await backend.assistants.create(a, do_nothing=False)
        if i % 2:
            await backend.assistants.update(a["assistant_id"], {"name": name})

    async def search(field: str, order: SortOrder) -> Sequence[Mapping[str, Any]]:
        query = AssistantQuery(sort_by=field, sort_order=order)
        return await backend.assistants.search(query, Page(100))

    await _check(search, ASSISTANT_FIELDS, "assistant_id")


async def test_threads_sort_by_each_allowed_field(backend: Backend) -> None:
    for i, name in enumerate(NAMES):
        t = thread(f"{name}-{i}", updated=-i * (-1) ** i)
        await backend.threads.create(t, do_nothing=False)
        if i % 2:
            await backend.threads.update(t["thread_id"], metadata={"i": i})
        if i % 3 == 0:
            await backend.threads.set_state(t["thread_id"], snapshot({}, has_next=i > 0))

    async def search(field: str, order: SortOrder) -> Sequence[Mapping[str, Any]]:
        query = ThreadQuery(sort_by=field, sort_order=order)
        return await backend.threads.search(query, Page(100))

    await _check(search, THREAD_FIELDS, "thread_id")


async def test_crons_sort_by_each_allowed_field_missing_values_lowest(backend: Backend) -> None:
    threads: list[str | None] = [None]
    for name in NAMES[:3]:
        threads.append((await backend.threads.create(thread(name), do_nothing=False))["thread_id"])
    for i, name in enumerate(NAMES):
        c = cron(
            NAMES[(i * 3) % len(NAMES)],
            thread_id=threads[i % len(threads)],
            next_run=None if i % 3 == 0 else 60.0 * i * (-1) ** i,
            end_time=None if i % 2 else whole_seconds(3600 * (i + 1)),
            created=-i * (-1) ** i,
        )
        await backend.crons.create({**c, "cron_id": f"{name}-{i}"})
        if i % 2:
            await backend.crons.update(f"{name}-{i}", {"enabled": False})

    async def search(field: str, order: SortOrder) -> Sequence[Mapping[str, Any]]:
        query = CronQuery(sort_by=field, sort_order=order)
        return await backend.crons.search(query, Page(100))

    await _check(search, CRON_FIELDS, "cron_id")


def _unknown_field_searches(backend: Backend, field: str) -> list[Callable[[], Awaitable[object]]]:
    return [
        lambda: backend.assistants.search(AssistantQuery(sort_by=field), Page()),
        lambda: backend.threads.search(ThreadQuery(sort_by=field), Page()),
        lambda: backend.crons.search(CronQuery(sort_by=field), Page()),
    ]


async def test_a_field_outside_the_whitelist_never_reaches_sql(backend: Backend) -> None:
    await backend.threads.create(thread(), do_nothing=False)
    hostile = "created_at; DELETE FROM threads; --"
    for search in _unknown_field_searches(backend, hostile):
        with pytest.raises(InvalidInput):
            await search()
    assert await backend.threads.count(ThreadQuery()) == 1


async def test_a_field_outside_the_whitelist_is_invalid_input(backend: Backend) -> None:
    for search in _unknown_field_searches(backend, "metadata"):
        with pytest.raises(InvalidInput):
            await search()


async def test_pages_follow_the_order(backend: Backend) -> None:
    for i in range(5):
        await backend.threads.create(thread(updated=-i), do_nothing=False)
    query = ThreadQuery(sort_by="created_at", sort_order="asc")
    whole = [t["thread_id"] for t in await backend.threads.search(query, Page(100))]
    pages = [
        t["thread_id"]
        for offset in (0, 2, 4)
        for t in await backend.threads.search(query, Page(2, offset))
    ]
    assert pages == whole
    assert await backend.threads.search(query, Page(2, 10)) == []
