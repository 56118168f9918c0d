"""The backends' shared decisions (`distaff.backends.rules`), as tables: pure functions, so
no server, no database, no event loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langgraph.store.base import GetOp, PutOp, SearchOp

from distaff.backends.rules import assistants, crons, filters, runs, sorting, store, threads
from distaff.backends.rules.filters import Condition
from distaff.backends.rules.runs import Effect
from distaff.errors import Conflict, EmbeddingError, InvalidInput, NotFound
from distaff.models import (
    Assistant,
    AssistantQuery,
    AssistantVersion,
    Cron,
    CronQuery,
    RunStatus,
    Thread,
    ThreadQuery,
)

# -- runs: cancel ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "status", "temporary", "effect"),
    [
        # A running run is flagged, whatever else: its process ends it.
        ("interrupt", "running", False, Effect("flag", cancel="interrupt")),
        ("rollback", "running", False, Effect("flag", cancel="rollback")),
        ("interrupt", "running", True, Effect("flag", cancel="interrupt")),
        ("rollback", "running", True, Effect("flag", cancel="rollback")),
        # A pending one ends here.
        ("interrupt", "pending", False, Effect("interrupt", settle="idle")),
        ("rollback", "pending", False, Effect("delete", settle="idle")),
        ("interrupt", "pending", True, Effect("drop_thread")),
        ("rollback", "pending", True, Effect("drop_thread")),
    ],
)
def test_cancel(action: Any, status: RunStatus, temporary: bool, effect: Effect) -> None:
    assert runs.on_cancel(action, status, temporary=temporary) == effect


@pytest.mark.parametrize(
    ("asked", "narrowed"),
    [
        ("pending", "pending"),
        ("running", "running"),
        ("success", None),
        ("all", None),
        (None, None),
    ],
)
def test_cancel_narrows_only_to_an_active_status(asked: str | None, narrowed: str | None) -> None:
    assert runs.active_filter(asked) == narrowed


# -- runs: recovery ----------------------------------------------------------------------------

FAILED = Effect("fail", settle="error", thread_error=runs.ATTEMPTS_EXCEEDED)


@pytest.mark.parametrize(
    ("cancel", "attempt", "temporary", "effect"),
    [
        # A cancel recorded before the crash wins over the attempts.
        ("interrupt", 1, False, Effect("interrupt", settle="idle")),
        ("rollback", 1, False, Effect("delete", settle="idle")),
        ("interrupt", 3, False, Effect("interrupt", settle="idle")),
        ("rollback", 5, False, Effect("delete", settle="idle")),
        ("interrupt", 1, True, Effect("drop_thread")),
        ("rollback", 3, True, Effect("drop_thread")),
        # Attempts left: back to the queue.
        (None, 1, False, Effect("requeue")),
        (None, 2, False, Effect("requeue")),
        (None, 2, True, Effect("requeue")),
        # Attempts used up (max 3): it fails, or goes with its temporary thread.
        (None, 3, False, FAILED),
        (None, 4, False, FAILED),
        (None, 3, True, Effect("drop_thread")),
    ],
)
def test_recover(cancel: Any, attempt: int, temporary: bool, effect: Effect) -> None:
    assert runs.on_recover(cancel, attempt, 3, temporary=temporary) == effect


def test_attempts_exceeded_error() -> None:
    assert runs.ATTEMPTS_EXCEEDED == {
        "error": "RunAttemptsExceeded",
        "message": "the run's worker died",
    }


# -- runs: the thread after a run ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "has_next", "thread_status"),
    [
        ("success", False, "idle"),
        ("success", True, "interrupted"),
        ("interrupted", False, "idle"),
        ("interrupted", True, "interrupted"),
        ("timeout", False, "idle"),
        ("timeout", True, "interrupted"),
        ("error", False, "error"),
        ("error", True, "error"),
        (None, False, "idle"),  # rolled back
        (None, True, "interrupted"),
    ],
)
def test_thread_status_after_a_run(status: Any, has_next: bool, thread_status: str) -> None:
    assert runs.thread_status_after(status, has_next=has_next) == thread_status


@pytest.mark.parametrize("ended", ["idle", "interrupted", "error"])
def test_a_thread_with_other_active_runs_stays_busy(ended: Any) -> None:
    assert runs.settled(ended, others_active=True) == "busy"
    assert runs.settled(ended, others_active=False) == ended


@pytest.mark.parametrize(
    ("status", "deletable"),
    [
        ("pending", False),
        ("running", False),
        ("success", True),
        ("error", True),
        ("timeout", True),
        ("interrupted", True),
    ],
)
def test_only_a_finished_run_is_deleted(status: str, deletable: bool) -> None:
    if deletable:
        runs.check_deletable("r1", status)
    else:
        with pytest.raises(Conflict, match=rf"^Run r1 is still {status}; cancel it first$"):
            runs.check_deletable("r1", status)


def test_run_errors() -> None:
    busy = runs.thread_busy()
    assert isinstance(busy, Conflict)
    assert busy.message == (
        "Thread is already running a task. Wait for it to finish or choose a different"
        " multitask strategy."
    )
    missing = runs.thread_missing()
    assert isinstance(missing, NotFound)
    assert missing.message == "Thread or assistant not found."


# -- assistants --------------------------------------------------------------------------------


def _assistant(**over: Any) -> Assistant:
    a: dict[str, Any] = {
        "assistant_id": "a1",
        "graph_id": "agent",
        "config": {"configurable": {"x": 1}},
        "context": {},
        "metadata": {"owner": "ann", "tier": 1},
        "name": "first",
        "created_at": "2024-01-01T00:00:00+00:00",
        "updated_at": "2024-01-01T00:00:00+00:00",
        "version": 1,
        "description": None,
    }
    return {**a, **over}  # type: ignore[typeddict-item]


def test_an_update_is_the_next_version_with_metadata_merged() -> None:
    current = _assistant(version=2)
    new = assistants.new_version(current, {"name": "renamed", "metadata": {"tier": 2}}, 5, "T")
    assert new == {
        **current,
        "name": "renamed",
        "metadata": {"owner": "ann", "tier": 2},
        "version": 6,  # one past the highest written, not past the current one
        "updated_at": "T",
    }
    assert current["version"] == 2 and current["metadata"]["tier"] == 1  # not changed in place


@pytest.mark.parametrize(("latest", "version"), [(None, 1), (1, 2), (9, 10)])
def test_version_numbers(latest: int | None, version: int) -> None:
    assert assistants.new_version(_assistant(), {}, latest, "T")["version"] == version


def test_an_update_without_metadata_keeps_it() -> None:
    for changes in ({}, {"metadata": None}, {"metadata": {}}):
        new = assistants.new_version(_assistant(), changes, 1, "T")
        assert new["metadata"] == {"owner": "ann", "tier": 1}


def test_set_latest_restores_a_version_keeping_id_and_creation() -> None:
    chosen: AssistantVersion = {
        "assistant_id": "a1",
        "version": 2,
        "graph_id": "other",
        "config": {},
        "context": {"c": 1},
        "metadata": {"old": True},
        "created_at": "2024-02-02T00:00:00+00:00",
        "name": "second",
        "description": "d",
    }
    restored = assistants.restored(_assistant(version=3), chosen, "T")
    assert restored == {
        "assistant_id": "a1",
        "graph_id": "other",
        "config": {},
        "context": {"c": 1},
        "metadata": {"old": True},
        "name": "second",
        "created_at": "2024-01-01T00:00:00+00:00",
        "updated_at": "T",
        "version": 2,
        "description": "d",
    }


def test_create_on_an_existing_assistant() -> None:
    existing = _assistant()
    assert assistants.if_exists(existing, do_nothing=True) is existing
    with pytest.raises(Conflict, match=r"^Assistant a1 already exists$"):
        assistants.if_exists(existing, do_nothing=False)
    assert assistants.not_found("a1").message == "Assistant a1 not found"
    assert assistants.no_version("a1", 7).message == "Assistant a1 has no version 7"


# -- threads -----------------------------------------------------------------------------------


def test_create_on_an_existing_thread() -> None:
    existing: Thread = {"thread_id": "t1"}  # type: ignore[typeddict-item]
    assert threads.if_exists(existing, do_nothing=True) is existing
    with pytest.raises(Conflict, match=r"^Thread with ID t1 already exists$"):
        threads.if_exists(existing, do_nothing=False)
    assert threads.not_found("t1").message == "Thread with ID t1 not found"


def test_thread_metadata_merges_shallowly() -> None:
    current = {"a": 1, "nested": {"x": 1}}
    assert threads.merged_metadata(current, {"nested": {"y": 2}, "b": 2}) == {
        "a": 1,
        "nested": {"y": 2},
        "b": 2,
    }
    assert threads.merged_metadata(current, None) == current


@pytest.mark.parametrize(
    ("current", "has_next", "after"),
    [
        ("idle", False, "idle"),
        ("idle", True, "interrupted"),
        ("interrupted", False, "idle"),
        ("interrupted", True, "interrupted"),
        ("error", False, "idle"),
        ("error", True, "interrupted"),
        ("busy", False, None),
        ("busy", True, None),
    ],
)
def test_thread_status_after_a_state_update(current: Any, has_next: bool, after: Any) -> None:
    assert threads.status_after_state(current, has_next=has_next) == after


NOW = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ttl", "idle_minutes", "strategy"),
    [
        ({"ttl": 10}, 11, "delete"),
        ({"ttl": 10, "strategy": "keep_latest"}, 11, "keep_latest"),
        ({"ttl": 10, "strategy": None}, 11, "delete"),
        ({"ttl": 0.5}, 1, "delete"),
        ({"ttl": 10}, 10, None),  # exactly its TTL: not yet
        ({"ttl": 10}, 9, None),
        ({"ttl": "10"}, 60, None),  # no number of minutes
        ({"strategy": "delete"}, 60, None),
        (None, 60, None),
        ({}, 60, None),
    ],
)
def test_thread_ttl(ttl: Any, idle_minutes: float, strategy: str | None) -> None:
    updated_at = NOW - timedelta(minutes=idle_minutes)
    assert threads.expired_strategy(ttl, updated_at, NOW) == strategy


# -- crons -------------------------------------------------------------------------------------


def test_a_cron_update_merges_metadata_only_when_given() -> None:
    current: Cron = {"cron_id": "c1", "metadata": {"a": 1}, "enabled": True, "updated_at": "old"}  # type: ignore[typeddict-item]
    assert crons.updated(current, {"enabled": False}, "T") == {
        "cron_id": "c1",
        "metadata": {"a": 1},
        "enabled": False,
        "updated_at": "T",
    }
    assert crons.updated(current, {"metadata": {"b": 2}}, "T")["metadata"] == {"a": 1, "b": 2}
    assert crons.not_found("c1").message == "Cron c1 not found"


# -- sorting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "key"),
    [
        (sorting.ASSISTANTS, "name"),
        (sorting.ASSISTANTS, "graph_id"),
        (sorting.THREADS, "status"),
        (sorting.THREADS, "state_updated_at"),
        (sorting.CRONS, "next_run_date"),
        (sorting.CRONS, "end_time"),
    ],
)
def test_sort_keys_allowed(allowed: tuple[str, ...], key: str) -> None:
    assert sorting.sort_key(allowed, key) == key


@pytest.mark.parametrize(
    ("allowed", "key"),
    [
        (sorting.ASSISTANTS, "status"),  # another resource's key
        (sorting.THREADS, "name"),
        (sorting.CRONS, "state_updated_at"),
        (sorting.THREADS, "metadata"),
        (sorting.THREADS, "created_at; DROP TABLE threads"),
        (sorting.ASSISTANTS, ""),
        (sorting.ASSISTANTS, "Name"),
    ],
)
def test_sort_keys_rejected(allowed: tuple[str, ...], key: str) -> None:
    with pytest.raises(InvalidInput, match="Cannot sort by"):
        sorting.sort_key(allowed, key)


def test_every_resource_sorts_by_its_times() -> None:
    for allowed in (sorting.ASSISTANTS, sorting.THREADS, sorting.CRONS):
        assert {"created_at", "updated_at"} <= set(allowed)


def test_sort_direction() -> None:
    assert sorting.direction("asc") == "ASC"
    assert sorting.direction("desc") == "DESC"


# -- filters -----------------------------------------------------------------------------------


def test_assistant_filters() -> None:
    assert filters.assistants(AssistantQuery()) == []
    query = AssistantQuery(metadata={"a": 1}, graph_id="g", name="Bot", auth={"owner": "ann"})
    assert filters.assistants(query) == [
        Condition("contains", "metadata", {"a": 1}),
        Condition("equals", "graph_id", "g"),
        Condition("substring", "name", "Bot"),
        Condition("auth", "metadata", {"owner": "ann"}),
    ]
    assert filters.versions("a1", {}) == [Condition("equals", "assistant_id", "a1")]
    assert filters.versions("a1", {"a": 1})[1] == Condition("contains", "metadata", {"a": 1})


def test_thread_filters() -> None:
    assert filters.threads(ThreadQuery()) == []
    query = ThreadQuery(ids=("t1", "t2"), metadata={"a": 1}, values={"v": 2}, status="idle")
    assert filters.threads(query) == [
        Condition("one_of", "thread_id", ["t1", "t2"]),
        Condition("contains", "metadata", {"a": 1}),
        Condition("contains", "values", {"v": 2}),
        Condition("equals", "status", "idle"),
    ]
    # No ids is a filter too: nothing matches.
    assert filters.threads(ThreadQuery(ids=())) == [Condition("one_of", "thread_id", [])]


def test_cron_filters() -> None:
    assert filters.crons(CronQuery()) == []
    assert filters.crons(CronQuery(assistant_id="a", thread_id="t", enabled=False)) == [
        Condition("equals", "assistant_id", "a"),
        Condition("equals", "thread_id", "t"),
        Condition("equals", "enabled", False),
    ]
    assert filters.crons(CronQuery(auth={})) == [Condition("auth", "metadata", {})]


# -- store embeddings ----------------------------------------------------------------------

FIELDS = [("$", "$")]  # the default: the whole value


def test_texts_to_embed() -> None:
    ns = ("docs",)
    ops = [
        PutOp(ns, "k1", {"text": "superseded"}),
        SearchOp(ns, query="find me"),
        GetOp(ns, "k0"),
        PutOp(ns, "k1", {"text": "hello"}, index=["text"]),  # the last put of k1 wins
        PutOp(ns, "k2", {"text": "hello"}, index=["text"]),  # the same text once
        PutOp(ns, "k3", {"text": "not indexed"}, index=False),
        PutOp(ns, "k4", None),  # a delete
        SearchOp(ns, query=None),
        SearchOp(ns, query="find me"),
    ]
    assert store.texts_to_embed(ops, FIELDS) == ["find me", "hello"]


def test_texts_of_the_configured_fields() -> None:
    fields = [("title", ["title"]), ("tags[*]", ["tags", "[*]"])]
    put = PutOp(("n",), "k", {"title": "T", "tags": ["a", "b"], "body": "skipped"})
    assert store.texts_to_embed([put], fields) == ["T", "a", "b"]


def test_checked_vectors() -> None:
    assert store.checked(["a", "b"], [[1.0, 0.0], [0.0, 1.0]], 2) == {
        "a": [1.0, 0.0],
        "b": [0.0, 1.0],
    }
    with pytest.raises(EmbeddingError, match="returned 1 vectors for 2 texts"):
        store.checked(["a", "b"], [[1.0, 0.0]], 2)
    with pytest.raises(EmbeddingError, match=r"a vector of 3 dimensions; store\.index\.dims is 2"):
        store.checked(["a"], [[1.0, 0.0, 0.0]], 2)


def test_embedding_failures_become_one_error() -> None:
    with pytest.raises(EmbeddingError, match="embedding function failed: RuntimeError") as info:
        with store.embedding_failures():
            raise RuntimeError("down")
    assert isinstance(info.value.__cause__, RuntimeError)
    ours = EmbeddingError("as is")
    with pytest.raises(EmbeddingError) as again, store.embedding_failures():
        raise ours
    assert again.value is ours
