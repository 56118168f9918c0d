"""Assistants and their versions: every update writes a new version and makes it latest;
`set_latest` points the assistant at an older one without writing a version."""

from __future__ import annotations

import pytest

from distaff.backends.base import Backend
from distaff.errors import Conflict, NotFound
from distaff.models import AssistantQuery, Page
from tests.backends.records import assistant, cron, new_id


async def test_create_conflicts_and_ensure_keeps_what_exists(backend: Backend) -> None:
    a = assistant(name="first")
    assert await backend.assistants.create(a, do_nothing=False) == a
    with pytest.raises(Conflict):
        await backend.assistants.create({**a, "name": "second"}, do_nothing=False)
    kept = await backend.assistants.create({**a, "name": "second"}, do_nothing=True)
    assert kept["name"] == "first"
    fresh = assistant()
    await backend.assistants.ensure([{**a, "name": "third"}, fresh])
    got = await backend.assistants.get(a["assistant_id"])
    assert got is not None and got["name"] == "first"
    assert await backend.assistants.get(fresh["assistant_id"]) == fresh
    assert await backend.assistants.get(new_id()) is None


async def test_updates_write_versions_and_set_latest_picks_one(backend: Backend) -> None:
    a = assistant(metadata={"a": 1}, config={"configurable": {"v": 1}})
    await backend.assistants.create(a, do_nothing=False)
    aid = a["assistant_id"]
    v2 = await backend.assistants.update(
        aid, {"config": {"configurable": {"v": 2}}, "metadata": {"b": 2}}
    )
    assert v2["version"] == 2
    assert v2["metadata"] == {"a": 1, "b": 2}
    assert v2["config"] == {"configurable": {"v": 2}}
    assert v2["created_at"] == a["created_at"] and v2["updated_at"] > a["updated_at"]
    assert await backend.assistants.get(aid) == v2

    versions = await backend.assistants.versions(aid, {}, Page())
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["config"] == {"configurable": {"v": 1}}
    assert versions[1]["metadata"] == {"a": 1}
    assert [v["version"] for v in await backend.assistants.versions(aid, {"b": 2}, Page())] == [2]
    assert [v["version"] for v in await backend.assistants.versions(aid, {}, Page(1, 1))] == [1]

    back = await backend.assistants.set_latest(aid, 1)
    assert (back["version"], back["config"], back["metadata"]) == (
        1,
        {"configurable": {"v": 1}},
        {"a": 1},
    )
    assert await backend.assistants.get(aid) == back
    assert len(await backend.assistants.versions(aid, {}, Page())) == 2  # none written
    # The next update is numbered after the highest version, not after the current one.
    v3 = await backend.assistants.update(aid, {"name": "renamed"})
    assert (v3["version"], v3["name"], v3["metadata"]) == (3, "renamed", {"a": 1})


async def test_missing_assistants_and_versions_are_not_found(backend: Backend) -> None:
    a = assistant()
    await backend.assistants.create(a, do_nothing=False)
    with pytest.raises(NotFound):
        await backend.assistants.set_latest(a["assistant_id"], 7)
    with pytest.raises(NotFound):
        await backend.assistants.set_latest(new_id(), 1)
    with pytest.raises(NotFound):
        await backend.assistants.update(new_id(), {"name": "x"})
    assert await backend.assistants.versions(new_id(), {}, Page()) == []


async def test_delete_takes_its_versions_and_crons(backend: Backend) -> None:
    a = assistant()
    await backend.assistants.create(a, do_nothing=False)
    await backend.assistants.update(a["assistant_id"], {"name": "v2"})
    c = await backend.crons.create(cron(a["assistant_id"]))
    assert await backend.assistants.delete(a["assistant_id"]) is True
    assert await backend.assistants.get(a["assistant_id"]) is None
    assert await backend.assistants.versions(a["assistant_id"], {}, Page()) == []
    assert await backend.crons.get(c["cron_id"]) is None
    assert await backend.assistants.delete(a["assistant_id"]) is False
    # The id is free again, from version 1.
    assert (await backend.assistants.create(a, do_nothing=False))["version"] == 1


async def test_search_and_count(backend: Backend) -> None:
    one = assistant(graph_id="agent", name="Support Bot", metadata={"team": "x"})
    two = assistant(graph_id="other", name="support helper", metadata={"team": "y"})
    three = assistant(graph_id="agent", name="Sales", metadata={"team": "x", "tier": 2})
    for a in (one, two, three):
        await backend.assistants.create(a, do_nothing=False)

    async def ids(query: AssistantQuery) -> set[str]:
        found = await backend.assistants.search(query, Page(100))
        assert len(found) == await backend.assistants.count(query)
        return {a["assistant_id"] for a in found}

    assert len(await ids(AssistantQuery())) == 3
    assert await ids(AssistantQuery(graph_id="agent")) == {
        one["assistant_id"],
        three["assistant_id"],
    }
    assert await ids(AssistantQuery(name="SUPPORT")) == {one["assistant_id"], two["assistant_id"]}
    assert await ids(AssistantQuery(metadata={"team": "x", "tier": 2})) == {three["assistant_id"]}
    assert await ids(AssistantQuery(graph_id="agent", name="bot")) == {one["assistant_id"]}
