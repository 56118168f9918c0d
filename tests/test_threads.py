"""Contract tests for `/threads` (contract §2, §3.2, §4.1, §5, §12; captures 10, 23, 24, 31, 32,
130-147, 183).

Servers are shared by the whole session, so every test makes its own threads, tags them with a
unique metadata value and filters on it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

THREAD_KEYS = {
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "status",
    "config",
    "values",
}
STATE_KEYS = {
    "values",
    "next",
    "tasks",
    "metadata",
    "created_at",
    "checkpoint",
    "parent_checkpoint",
    "interrupts",
    "checkpoint_id",
    "parent_checkpoint_id",
}
# capture 141: the state of a thread with no checkpoint
EMPTY_STATE = {
    "values": {},
    "next": [],
    "tasks": [],
    "metadata": None,
    "created_at": None,
    "checkpoint": None,
    "parent_checkpoint": None,
    "interrupts": [],
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
HELLO = "Hello there friend"


def tag() -> str:
    return uuid.uuid4().hex


def msg(content: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


def contents(values: dict[str, Any]) -> list[str]:
    return [m["content"] for m in values.get("messages", [])]


async def new_thread(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await http.post("/threads", json=body)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def wait(
    http: httpx.AsyncClient, tid: str, graph: str = "agent", content: str = "hi", **body: Any
) -> Any:
    """`POST /threads/{tid}/runs/wait`; always 200, errors in `__error__` (contract quirk 8)."""
    body.setdefault("input", msg(content))
    r = await http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": graph, **body})
    assert r.status_code == 200, r.text
    return r.json()


async def ran_thread(
    client: LangGraphClient, http: httpx.AsyncClient, runs: int = 1, **metadata: Any
) -> str:
    """A thread that ran `agent` `runs` times (3 checkpoints per run)."""
    tid = (await new_thread(http, metadata={"t": tag(), **metadata}))["thread_id"]
    for _ in range(runs):
        await client.runs.wait(tid, "agent", input=msg("hi"))
    return tid


async def history(http: httpx.AsyncClient, tid: str, limit: int = 100) -> list[dict[str, Any]]:
    r = await http.post(f"/threads/{tid}/history", json={"limit": limit})
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()
    return data


def assert_error(r: httpx.Response, status: int, detail: str | None = None) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("detail"), str), body
    if detail is not None:
        assert body["detail"] == detail
    return str(body["detail"])


# ---------------------------------------------------------------------------------------------
# Create, get


async def test_create_thread_fields(http: httpx.AsyncClient) -> None:
    t = tag()
    thread = await new_thread(http, metadata={"owner": t})
    assert set(thread) == THREAD_KEYS  # capture 10
    tid = thread["thread_id"]
    assert uuid.UUID(tid).version == 7  # contract §2: server ids are UUIDv7
    assert str(uuid.UUID(tid)) == tid
    assert thread["metadata"] == {"owner": t}
    assert thread["status"] == "idle"
    assert thread["config"] == {}
    assert thread["values"] is None
    for key in ("created_at", "updated_at", "state_updated_at"):
        assert TIMESTAMP.match(thread[key]), thread[key]
    assert thread["created_at"] == thread["updated_at"]

    r = await http.get(f"/threads/{tid}")
    assert r.status_code == 200
    got = r.json()
    assert {k: got[k] for k in THREAD_KEYS} == {k: thread[k] for k in THREAD_KEYS}


async def test_server_thread_ids_are_time_ordered(client: LangGraphClient) -> None:
    ids = [(await client.threads.create(metadata={"t": tag()}))["thread_id"] for _ in range(3)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert ids == sorted(ids)


async def test_create_with_explicit_id(client: LangGraphClient) -> None:
    tid, t = str(uuid.uuid4()), tag()
    thread = await client.threads.create(thread_id=tid, metadata={"t": t})
    assert thread["thread_id"] == tid
    assert thread["metadata"] == {"t": t}
    assert thread["status"] == "idle"
    assert (await client.threads.get(tid))["thread_id"] == tid


async def test_create_duplicate_raise_is_409(http: httpx.AsyncClient) -> None:
    tid = str(uuid.uuid4())
    await new_thread(http, thread_id=tid, metadata={"t": tag()})
    r = await http.post("/threads", json={"thread_id": tid})
    assert_error(r, 409, f"Thread with ID {tid} already exists")  # capture 137
    r = await http.post("/threads", json={"thread_id": tid, "if_exists": "raise"})
    assert_error(r, 409)


async def test_create_duplicate_do_nothing_returns_existing(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid, t = str(uuid.uuid4()), tag()
    original = await new_thread(http, thread_id=tid, metadata={"t": t})
    again = await client.threads.create(
        thread_id=tid, metadata={"t": "other"}, if_exists="do_nothing"
    )
    assert again["thread_id"] == tid
    assert again["metadata"] == {"t": t}  # capture 138: the existing thread, unchanged
    assert again["created_at"] == original["created_at"]
    assert (await client.threads.get(tid))["metadata"] == {"t": t}


async def test_get_missing_thread_404(http: httpx.AsyncClient) -> None:
    tid = str(uuid.uuid4())
    assert_error(await http.get(f"/threads/{tid}"), 404, f"Thread with ID {tid} not found")


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "/state", None),
        ("GET", "/history", None),
        ("POST", "/history", {"limit": 1}),
        ("POST", "/copy", None),
        ("PATCH", "", {"metadata": {"a": 1}}),
        ("DELETE", "", None),
    ],
)
async def test_missing_thread_endpoints_404(
    http: httpx.AsyncClient, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    r = await http.request(method, f"/threads/{uuid.uuid4()}{suffix}", json=body)
    assert_error(r, 404)


async def test_non_uuid_thread_id_is_404(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/threads/not-a-uuid"), 404)


# ---------------------------------------------------------------------------------------------
# Patch, delete


async def test_patch_merges_metadata(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t = tag()
    thread = await new_thread(http, metadata={"t": t, "k": "v", "over": 1})
    tid = thread["thread_id"]
    r = await http.patch(f"/threads/{tid}", json={"metadata": {"k2": "v2", "over": 2}})
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["thread_id"] == tid
    assert patched["metadata"] == {"t": t, "k": "v", "k2": "v2", "over": 2}  # capture 140
    assert patched["created_at"] == thread["created_at"]
    assert patched["updated_at"] > thread["updated_at"]
    assert patched["status"] == "idle"
    got = await client.threads.get(tid)
    assert got["metadata"] == patched["metadata"]
    # the SDK form
    again = await client.threads.update(tid, metadata={"k3": 3})
    assert again["metadata"] == {**patched["metadata"], "k3": 3}


async def test_patch_prefer_minimal_is_204(http: httpx.AsyncClient) -> None:
    t = tag()
    tid = (await new_thread(http, metadata={"t": t}))["thread_id"]
    r = await http.patch(
        f"/threads/{tid}", json={"metadata": {"x": 1}}, headers={"Prefer": "return=minimal"}
    )
    assert r.status_code == 204
    assert r.content == b""
    got = (await http.get(f"/threads/{tid}")).json()
    assert got["metadata"] == {"t": t, "x": 1}


async def test_delete_then_404_and_runs_gone(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = await ran_thread(client, http)
    runs = await client.runs.list(tid)
    assert len(runs) == 1
    rid = runs[0]["run_id"]
    assert (await http.get(f"/threads/{tid}/runs/{rid}")).status_code == 200

    r = await http.delete(f"/threads/{tid}")
    assert r.status_code == 204
    assert r.content == b""
    assert_error(await http.get(f"/threads/{tid}"), 404, f"Thread with ID {tid} not found")
    assert_error(await http.get(f"/threads/{tid}/runs/{rid}"), 404)
    assert_error(await http.delete(f"/threads/{tid}"), 404)
    r = await http.post("/threads/search", json={"ids": [tid]})
    assert r.json() == []


# ---------------------------------------------------------------------------------------------
# Search, count


async def test_search_metadata_containment(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    t = tag()
    a = await new_thread(http, metadata={"t": t, "color": "red", "size": 1})
    b = await new_thread(http, metadata={"t": t, "color": "blue", "size": 1})
    found = await client.threads.search(metadata={"t": t}, limit=100)
    assert {x["thread_id"] for x in found} == {a["thread_id"], b["thread_id"]}
    found = await client.threads.search(metadata={"t": t, "color": "red"})
    assert [x["thread_id"] for x in found] == [a["thread_id"]]
    found = await client.threads.search(metadata={"t": t, "size": 1, "color": "blue"})
    assert [x["thread_id"] for x in found] == [b["thread_id"]]
    assert await client.threads.search(metadata={"t": t, "color": "green"}) == []
    assert await client.threads.search(metadata={"t": t, "missing": None}) == []


async def test_search_returns_bare_array_of_threads(http: httpx.AsyncClient) -> None:
    t = tag()
    thread = await new_thread(http, metadata={"t": t})
    r = await http.post("/threads/search", json={"metadata": {"t": t}})
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    assert {k: body[0][k] for k in THREAD_KEYS} == {k: thread[k] for k in THREAD_KEYS}
    assert r.headers["x-pagination-total"] == "1"
    assert "x-pagination-next" not in r.headers


async def test_search_values_containment(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t, answer = tag(), tag()
    tid = (await new_thread(http, metadata={"t": t}))["thread_id"]
    other = (await new_thread(http, metadata={"t": t}))["thread_id"]
    await client.runs.wait(tid, "hitl", input=msg("please approve"))
    await client.runs.wait(tid, "hitl", command={"resume": answer})
    await client.runs.wait(other, "hitl", input=msg("please approve"))
    await client.runs.wait(other, "hitl", command={"resume": "no"})

    found = await client.threads.search(values={"approved": answer}, limit=100)
    assert [x["thread_id"] for x in found] == [tid]
    assert found[0]["values"]["approved"] == answer
    found = await client.threads.search(metadata={"t": t}, values={"approved": "no"})
    assert [x["thread_id"] for x in found] == [other]
    assert await client.threads.search(metadata={"t": t}, values={"approved": "maybe"}) == []
    assert await client.threads.count(metadata={"t": t}, values={"approved": answer}) == 1


async def test_search_and_count_by_status(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t = tag()
    idle = (await new_thread(http, metadata={"t": t}))["thread_id"]
    ok = (await new_thread(http, metadata={"t": t}))["thread_id"]
    interrupted = (await new_thread(http, metadata={"t": t}))["thread_id"]
    failed = (await new_thread(http, metadata={"t": t}))["thread_id"]
    await wait(http, ok, "agent")
    await wait(http, interrupted, "hitl")
    await wait(http, failed, "agent", "boom")

    async def ids(status: str) -> set[str]:
        found = await client.threads.search(metadata={"t": t}, status=status, limit=100)
        assert all(x["status"] == status for x in found)
        return {x["thread_id"] for x in found}

    assert await ids("idle") == {idle, ok}
    assert await ids("interrupted") == {interrupted}
    assert await ids("error") == {failed}
    assert await ids("busy") == set()
    assert await client.threads.count(metadata={"t": t}, status="idle") == 2
    assert await client.threads.count(metadata={"t": t}, status="error") == 1
    assert await client.threads.count(metadata={"t": t}, status="interrupted") == 1


async def test_search_by_ids(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t = tag()
    tids = [(await new_thread(http, metadata={"t": t}))["thread_id"] for _ in range(3)]
    found = await client.threads.search(ids=[tids[0], tids[2]])
    assert {x["thread_id"] for x in found} == {tids[0], tids[2]}
    assert await client.threads.search(ids=[str(uuid.uuid4())]) == []
    # ids combine with other filters
    found = await client.threads.search(ids=tids, metadata={"t": "other"})
    assert found == []


async def test_search_sort(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t = tag()
    tids = [(await new_thread(http, metadata={"t": t}))["thread_id"] for _ in range(3)]

    async def ids(**kw: Any) -> list[str]:
        found = await client.threads.search(metadata={"t": t}, limit=100, **kw)
        return [x["thread_id"] for x in found]

    assert await ids(sort_by="created_at", sort_order="asc") == tids
    assert await ids(sort_by="created_at", sort_order="desc") == tids[::-1]
    assert await ids(sort_by="thread_id", sort_order="asc") == sorted(tids)
    assert await ids(sort_by="thread_id", sort_order="desc") == sorted(tids)[::-1]
    # updating the oldest thread makes it the most recently updated
    await client.threads.update(tids[0], metadata={"bumped": True})
    assert (await ids(sort_by="updated_at", sort_order="desc"))[0] == tids[0]
    assert (await ids(sort_by="updated_at", sort_order="asc"))[-1] == tids[0]
    # running on the middle one changes its state_updated_at
    await wait(http, tids[1], "trivial")
    assert (await ids(sort_by="state_updated_at", sort_order="desc"))[0] == tids[1]
    # status sorts as text: "idle" < "interrupted"
    await wait(http, tids[0], "hitl")
    assert (await ids(sort_by="status", sort_order="asc"))[-1] == tids[0]
    assert (await ids(sort_by="status", sort_order="desc"))[0] == tids[0]


async def test_search_limit_offset_after_filtering(http: httpx.AsyncClient) -> None:
    t = tag()
    tids = [(await new_thread(http, metadata={"t": t}))["thread_id"] for _ in range(5)]
    # noise that matches nothing but would shift pages if filtering came after paging
    for _ in range(2):
        await new_thread(http, metadata={"t": f"{t}-noise"})
    base = {"metadata": {"t": t}, "sort_by": "created_at", "sort_order": "asc"}

    r = await http.post("/threads/search", json={**base, "limit": 2, "offset": 0})
    assert [x["thread_id"] for x in r.json()] == tids[0:2]
    assert r.headers["x-pagination-next"] == "2"
    assert r.headers["x-pagination-total"] == "3"  # quirk 3: next_offset + 1

    r = await http.post("/threads/search", json={**base, "limit": 2, "offset": 2})
    assert [x["thread_id"] for x in r.json()] == tids[2:4]
    assert r.headers["x-pagination-next"] == "4"
    assert r.headers["x-pagination-total"] == "5"

    r = await http.post("/threads/search", json={**base, "limit": 2, "offset": 4})
    assert [x["thread_id"] for x in r.json()] == tids[4:5]
    assert "x-pagination-next" not in r.headers
    assert r.headers["x-pagination-total"] == "5"

    r = await http.post("/threads/search", json={**base, "limit": 10, "offset": 1})
    assert [x["thread_id"] for x in r.json()] == tids[1:]


async def test_search_default_limit_is_10(http: httpx.AsyncClient) -> None:
    t = tag()
    for _ in range(11):
        await new_thread(http, metadata={"t": t})
    r = await http.post("/threads/search", json={"metadata": {"t": t}})
    assert len(r.json()) == 10
    assert r.headers["x-pagination-next"] == "10"


@pytest.mark.parametrize(
    "select",
    [["thread_id"], ["thread_id", "status", "metadata"], ["values", "created_at"]],
)
async def test_search_select_returns_only_those_keys(
    http: httpx.AsyncClient, select: list[str]
) -> None:
    t = tag()
    thread = await new_thread(http, metadata={"t": t})
    r = await http.post("/threads/search", json={"metadata": {"t": t}, "select": select})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body) == 1
    assert body[0] == {k: thread[k] for k in select}


async def test_search_select_unknown_field_is_422(http: httpx.AsyncClient) -> None:
    r = await http.post("/threads/search", json={"select": ["thread_id", "nope"]})
    assert_error(r, 422)


async def test_search_extract(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t = tag()
    tid = await ran_thread(client, http, owner=t)
    empty = (await new_thread(http, metadata={"t": t}))["thread_id"]
    extract = {
        "last": "values.messages[-1].content",
        "first": "values.messages[0].content",
        "owner": "metadata.owner",
    }
    found = await client.threads.search(ids=[tid], extract=extract)
    assert len(found) == 1
    assert found[0]["extracted"] == {"last": HELLO, "first": "hi", "owner": t}
    # with select, only the selected keys and `extracted`
    r = await http.post(
        "/threads/search",
        json={"ids": [tid], "select": ["thread_id"], "extract": {"last": extract["last"]}},
    )
    assert r.json() == [{"thread_id": tid, "extracted": {"last": HELLO}}]
    # a path that does not resolve gives null
    found = await client.threads.search(ids=[empty], extract={"last": extract["last"]})
    assert found[0]["extracted"] == {"last": None}


async def test_count(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t = tag()
    for i in range(3):
        await new_thread(http, metadata={"t": t, "i": i % 2})
    r = await http.post("/threads/count", json={"metadata": {"t": t}})
    assert r.status_code == 200
    assert r.json() == 3  # bare integer (capture 131)
    assert await client.threads.count(metadata={"t": t, "i": 0}) == 2
    assert await client.threads.count(metadata={"t": "no-such"}) == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/threads/search", {"limit": "abc", "status": "nope"}),
        ("/threads/search", {"status": "nope"}),
        ("/threads/search", {"sort_by": "nope"}),
        ("/threads/search", {"ids": ["not-a-uuid"]}),
        ("/threads/count", {"status": "nope"}),
        ("/threads", {"thread_id": "not-a-uuid"}),
        ("/threads", {"if_exists": "sometimes"}),
        ("/threads/prune", {"thread_ids": [], "strategy": "nope"}),
    ],
)
async def test_bad_bodies_are_422(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    assert_error(await http.post(path, json=body), 422)  # capture 124


# ---------------------------------------------------------------------------------------------
# Copy, prune


async def test_copy_has_same_metadata_values_and_history(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    t = tag()
    tid = await ran_thread(client, http, runs=2, owner=t)
    original = await client.threads.get(tid)
    r = await http.post(f"/threads/{tid}/copy")
    assert r.status_code == 200, r.text
    copy = r.json()
    cid = copy["thread_id"]
    assert cid != tid
    uuid.UUID(cid)
    assert copy["metadata"] == original["metadata"]  # capture 135
    assert copy["status"] == "idle"

    orig_hist, copy_hist = await history(http, tid), await history(http, cid)
    assert len(orig_hist) == 6
    assert len(copy_hist) == len(orig_hist)
    assert [h["values"] for h in copy_hist] == [h["values"] for h in orig_hist]
    assert [h["next"] for h in copy_hist] == [h["next"] for h in orig_hist]
    assert all(h["checkpoint"]["thread_id"] == cid for h in copy_hist)

    copy_state = await client.threads.get_state(cid)
    assert contents(copy_state["values"]) == ["hi", HELLO, "hi", HELLO]
    assert (await client.threads.get(cid))["values"] == original["values"]

    # the copy is independent of the original
    await client.runs.wait(cid, "agent", input=msg("again"))
    assert len(contents((await client.threads.get_state(cid))["values"])) == 6
    assert len(contents((await client.threads.get_state(tid))["values"])) == 4
    assert len(await history(http, tid)) == 6


async def test_prune_delete(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    a = await ran_thread(client, http)
    b = (await new_thread(http, metadata={"t": tag()}))["thread_id"]
    keep = (await new_thread(http, metadata={"t": tag()}))["thread_id"]
    r = await http.post("/threads/prune", json={"thread_ids": [a, b], "strategy": "delete"})
    assert r.status_code == 200, r.text
    assert r.json() == {"pruned_count": 2}
    for tid in (a, b):
        assert_error(await http.get(f"/threads/{tid}"), 404)
    assert (await http.get(f"/threads/{keep}")).status_code == 200
    # SDK default strategy is delete
    assert await client.threads.prune([keep]) == {"pruned_count": 1}
    assert_error(await http.get(f"/threads/{keep}"), 404)


async def test_prune_keep_latest(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    tid = await ran_thread(client, http, runs=2)
    before = await client.threads.get_state(tid)
    assert len(await history(http, tid)) == 6
    result = await client.threads.prune([tid], strategy="keep_latest")
    assert result == {"pruned_count": 1}
    hist = await history(http, tid)
    assert len(hist) == 1
    assert hist[0]["checkpoint_id"] == before["checkpoint"]["checkpoint_id"]
    after = await client.threads.get_state(tid)
    assert after["values"] == before["values"]
    assert after["next"] == []
    assert (await client.threads.get(tid))["status"] == "idle"
    # the thread still works
    await client.runs.wait(tid, "agent", input=msg("more"))
    state = await client.threads.get_state(tid)
    assert contents(state["values"])[-2:] == ["more", HELLO]
    assert len(contents(state["values"])) == 6


# ---------------------------------------------------------------------------------------------
# State


async def test_state_after_run(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    tid = await ran_thread(client, http)
    r = await http.get(f"/threads/{tid}/state")
    assert r.status_code == 200, r.text
    state = r.json()
    assert set(state) == STATE_KEYS  # capture 23/32
    assert contents(state["values"]) == ["hi", HELLO]
    assert state["next"] == []
    assert state["tasks"] == []
    assert state["interrupts"] == []
    cp = state["checkpoint"]
    assert cp["thread_id"] == tid and cp["checkpoint_ns"] == ""
    assert state["checkpoint_id"] == cp["checkpoint_id"]
    assert state["parent_checkpoint"]["thread_id"] == tid
    assert state["parent_checkpoint_id"] == state["parent_checkpoint"]["checkpoint_id"]
    assert state["parent_checkpoint_id"] != state["checkpoint_id"]
    md = state["metadata"]
    assert md["graph_id"] == "agent"
    assert md["source"] == "loop"
    assert md["step"] == 1
    assert md["assistant_id"] == str(
        uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "agent")
    )
    runs = await client.runs.list(tid)
    assert md["run_id"] == runs[0]["run_id"]
    assert TIMESTAMP.match(state["created_at"]), state["created_at"]
    # the SDK reads the same thing
    assert await client.threads.get_state(tid) == state


async def test_state_of_thread_that_never_ran(http: httpx.AsyncClient) -> None:
    tid = (await new_thread(http, metadata={"t": tag()}))["thread_id"]
    r = await http.get(f"/threads/{tid}/state")
    assert r.status_code == 200, r.text
    assert r.json() == EMPTY_STATE  # capture 141
    assert await history(http, tid) == []


async def test_state_at_checkpoint(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    tid = await ran_thread(client, http)
    hist = await history(http, tid)
    assert [h["next"] for h in hist] == [[], ["chat"], ["__start__"]]
    earlier = hist[1]
    cid = earlier["checkpoint_id"]

    r = await http.get(f"/threads/{tid}/state/{cid}")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["checkpoint_id"] == cid
    assert got["checkpoint"]["checkpoint_id"] == cid
    assert contents(got["values"]) == ["hi"]
    assert got["next"] == ["chat"]
    assert [task["name"] for task in got["tasks"]] == ["chat"]
    assert got["parent_checkpoint_id"] == hist[2]["checkpoint_id"]

    r = await http.post(
        f"/threads/{tid}/state/checkpoint",
        json={"checkpoint": {"checkpoint_id": cid}, "subgraphs": False},
    )
    assert r.status_code == 200, r.text
    posted = r.json()
    assert posted["checkpoint_id"] == cid  # capture 183
    assert contents(posted["values"]) == ["hi"]
    assert posted["next"] == ["chat"]

    via_sdk = await client.threads.get_state(tid, checkpoint={"checkpoint_id": cid})
    assert via_sdk["checkpoint"]["checkpoint_id"] == cid
    via_sdk = await client.threads.get_state(tid, checkpoint_id=cid)
    assert via_sdk["checkpoint"]["checkpoint_id"] == cid

    # the latest state is unchanged
    latest = await client.threads.get_state(tid)
    assert latest["checkpoint"]["checkpoint_id"] == hist[0]["checkpoint_id"]


async def test_state_at_unknown_checkpoint_is_404(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = await ran_thread(client, http)
    r = await http.get(f"/threads/{tid}/state/{uuid.uuid4()}")
    assert 400 <= r.status_code < 500
    assert isinstance(r.json()["detail"], str)


async def test_state_with_subgraphs(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    tid = (await new_thread(http, metadata={"t": tag()}))["thread_id"]
    await client.runs.wait(tid, "parent", input=msg("hi"))
    final = await client.threads.get_state(tid, subgraphs=True)
    assert contents(final["values"]) == ["hi", "from outer", "from inner"]

    hist = await history(http, tid)
    at_child = next(h for h in hist if h["next"] == ["child"])
    cid = at_child["checkpoint_id"]

    flat = (await http.get(f"/threads/{tid}/state/{cid}")).json()
    (task,) = flat["tasks"]
    assert task["name"] == "child"
    assert task["state"] is None or "values" not in task["state"]

    r = await http.get(f"/threads/{tid}/state/{cid}", params={"subgraphs": "true"})
    assert r.status_code == 200, r.text
    (task,) = r.json()["tasks"]
    assert task["name"] == "child"
    sub = task["state"]
    assert isinstance(sub, dict) and "values" in sub, task
    assert "from inner" in contents(sub["values"])
    assert sub["checkpoint"]["checkpoint_ns"].startswith("child:")

    r = await http.post(
        f"/threads/{tid}/state/checkpoint",
        json={"checkpoint": {"checkpoint_id": cid}, "subgraphs": True},
    )
    assert r.status_code == 200, r.text
    assert "values" in r.json()["tasks"][0]["state"]


# ---------------------------------------------------------------------------------------------
# Update state


async def test_update_state_as_node(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    tid = await ran_thread(client, http)
    before = await client.threads.get_state(tid)
    r = await http.post(
        f"/threads/{tid}/state",
        json={
            "values": {"messages": [{"type": "human", "content": "injected"}]},
            "as_node": "chat",
        },
    )
    assert r.status_code == 200, r.text
    resp = r.json()
    assert set(resp) >= {"checkpoint", "configurable", "checkpoint_id"}  # capture 134
    cp = resp["checkpoint"]
    assert cp["thread_id"] == tid
    assert cp["checkpoint_ns"] == ""
    assert cp["checkpoint_id"] == resp["checkpoint_id"]
    assert resp["configurable"]["thread_id"] == tid
    assert resp["configurable"]["checkpoint_id"] == resp["checkpoint_id"]
    assert resp["checkpoint_id"] != before["checkpoint"]["checkpoint_id"]

    state = await client.threads.get_state(tid)
    assert state["checkpoint"]["checkpoint_id"] == resp["checkpoint_id"]
    assert contents(state["values"]) == ["hi", HELLO, "injected"]
    assert state["next"] == []
    assert state["parent_checkpoint"]["checkpoint_id"] == before["checkpoint"]["checkpoint_id"]
    assert state["metadata"]["source"] == "update"

    # the SDK form; as_node "chat" is followed by END, so nothing is next
    sdk = await client.threads.update_state(
        tid, {"messages": [{"type": "ai", "content": "more"}]}, as_node="chat"
    )
    assert sdk["checkpoint"]["thread_id"] == tid
    state = await client.threads.get_state(tid)
    assert contents(state["values"])[-1] == "more"
    assert len(await history(http, tid)) == 5


async def test_update_state_without_as_node(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = await ran_thread(client, http)
    await client.threads.update_state(tid, {"messages": [{"type": "human", "content": "added"}]})
    state = await client.threads.get_state(tid)
    assert contents(state["values"]) == ["hi", HELLO, "added"]


@pytest.mark.parametrize("form", ["checkpoint_id", "checkpoint"])
async def test_update_state_from_earlier_checkpoint(
    client: LangGraphClient, http: httpx.AsyncClient, form: str
) -> None:
    tid = await ran_thread(client, http)
    hist = await history(http, tid)
    fork_from = hist[1]  # after the input, before `chat` ran
    assert fork_from["next"] == ["chat"]
    cid = fork_from["checkpoint_id"]
    ref: dict[str, Any] = (
        {"checkpoint_id": cid}
        if form == "checkpoint_id"
        else {"checkpoint": {"checkpoint_id": cid}}
    )
    r = await http.post(
        f"/threads/{tid}/state",
        json={
            "values": {"messages": [{"type": "ai", "content": "forked"}]},
            "as_node": "chat",
            **ref,
        },
    )
    assert r.status_code == 200, r.text
    new_id = r.json()["checkpoint_id"]

    state = await client.threads.get_state(tid)
    assert state["checkpoint"]["checkpoint_id"] == new_id
    assert state["parent_checkpoint"]["checkpoint_id"] == cid
    assert contents(state["values"]) == ["hi", "forked"]
    assert state["next"] == []
    # the original branch still exists
    old = await client.threads.get_state(tid, checkpoint_id=hist[0]["checkpoint_id"])
    assert contents(old["values"]) == ["hi", HELLO]


async def test_update_state_on_thread_without_graph_is_400(http: httpx.AsyncClient) -> None:
    tid = (await new_thread(http, metadata={"t": tag()}))["thread_id"]
    r = await http.post(
        f"/threads/{tid}/state", json={"values": {"messages": [{"type": "human", "content": "x"}]}}
    )
    assert_error(r, 400)
    assert (await http.get(f"/threads/{tid}/state")).json() == EMPTY_STATE


async def test_update_state_on_thread_with_graph_id_metadata(client: LangGraphClient) -> None:
    thread = await client.threads.create(metadata={"t": tag()}, graph_id="agent")
    tid = thread["thread_id"]
    await client.threads.update_state(
        tid, {"messages": [{"type": "human", "content": "set"}]}, as_node="chat"
    )
    state = await client.threads.get_state(tid)
    assert contents(state["values"]) == ["set"]


# ---------------------------------------------------------------------------------------------
# History


async def test_history_get(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    tid = await ran_thread(client, http)
    latest = await client.threads.get_state(tid)
    latest_id = latest["checkpoint"]["checkpoint_id"]

    r = await http.get(f"/threads/{tid}/history")
    assert r.status_code == 200, r.text
    default = r.json()
    assert len(default) == 1  # default limit is 1
    assert default[0]["checkpoint_id"] == latest_id
    assert set(default[0]) == STATE_KEYS

    r = await http.get(f"/threads/{tid}/history", params={"limit": 2})
    two = r.json()
    assert len(two) == 2  # capture 132
    assert two[0]["checkpoint_id"] == latest_id
    assert two[1]["checkpoint_id"] == two[0]["parent_checkpoint_id"]

    r = await http.get(f"/threads/{tid}/history", params={"limit": 10})
    full = r.json()
    assert [h["metadata"]["step"] for h in full] == [1, 0, -1]  # newest first
    assert [h["metadata"]["source"] for h in full] == ["loop", "loop", "input"]
    assert [contents(h["values"]) for h in full] == [["hi", HELLO], ["hi"], []]

    r = await http.get(f"/threads/{tid}/history", params={"limit": 10, "before": latest_id})
    before = r.json()
    assert [h["checkpoint_id"] for h in before] == [h["checkpoint_id"] for h in full[1:]]


async def test_history_post(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    tid = await ran_thread(client, http, runs=2)
    full = await history(http, tid)
    assert len(full) == 6

    r = await http.post(f"/threads/{tid}/history", json={})
    assert r.status_code == 200, r.text
    assert [h["checkpoint_id"] for h in r.json()] == [full[0]["checkpoint_id"]]

    r = await http.post(f"/threads/{tid}/history", json={"limit": 2})
    assert [h["checkpoint_id"] for h in r.json()] == [h["checkpoint_id"] for h in full[:2]]

    r = await http.post(
        f"/threads/{tid}/history", json={"limit": 10, "before": full[1]["checkpoint_id"]}
    )
    assert [h["checkpoint_id"] for h in r.json()] == [h["checkpoint_id"] for h in full[2:]]

    r = await http.post(
        f"/threads/{tid}/history", json={"limit": 10, "metadata": {"source": "loop"}}
    )
    loops = r.json()
    assert len(loops) == 4  # capture 133
    assert all(h["metadata"]["source"] == "loop" for h in loops)
    r = await http.post(
        f"/threads/{tid}/history", json={"limit": 10, "metadata": {"source": "input"}}
    )
    assert [h["metadata"]["step"] for h in r.json()] == [2, -1]  # 2nd run continues the steps

    # the SDK form (before as a checkpoint object)
    via_sdk = await client.threads.get_history(
        tid, limit=3, before={"checkpoint_id": full[0]["checkpoint_id"]}
    )
    assert [h["checkpoint"]["checkpoint_id"] for h in via_sdk] == [
        h["checkpoint_id"] for h in full[1:4]
    ]
    via_sdk = await client.threads.get_history(tid, limit=100)
    assert len(via_sdk) == 6


# ---------------------------------------------------------------------------------------------
# Thread status, values, interrupts, error after runs (contract §4.1)


async def test_thread_after_success(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t = tag()
    tid = await ran_thread(client, http, owner=t)
    thread = (await http.get(f"/threads/{tid}")).json()
    assert set(thread) == THREAD_KEYS | {"error", "interrupts"}  # capture 24
    assert thread["status"] == "idle"
    assert contents(thread["values"]) == ["hi", HELLO]
    assert thread["error"] is None
    assert thread["interrupts"] == {}
    assert thread["metadata"]["owner"] == t
    assert thread["metadata"]["graph_id"] == "agent"
    assert thread["metadata"]["assistant_id"] == str(
        uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "agent")
    )
    assert thread["state_updated_at"] > thread["created_at"]


async def test_thread_after_interrupt_and_resume(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = (await new_thread(http, metadata={"t": tag()}))["thread_id"]
    out = await client.runs.wait(tid, "hitl", input=msg("please approve"))
    assert isinstance(out, dict)
    assert out["__interrupt__"][0]["value"] == {"question": "approve?", "n": 1}

    thread = (await http.get(f"/threads/{tid}")).json()
    assert thread["status"] == "interrupted"  # capture 31
    assert thread["error"] is None
    assert contents(thread["values"]) == ["please approve"]
    state = (await http.get(f"/threads/{tid}/state")).json()
    assert state["next"] == ["ask"]  # capture 32
    (task,) = state["tasks"]
    assert list(thread["interrupts"]) == [task["id"]]
    (interrupt,) = thread["interrupts"][task["id"]]
    assert set(interrupt) >= {"id", "value"}
    assert interrupt["value"] == {"question": "approve?", "n": 1}
    assert isinstance(interrupt["id"], str) and interrupt["id"]
    assert [(i["id"], i["value"]) for i in state["interrupts"]] == [
        (interrupt["id"], interrupt["value"])
    ]
    assert [(i["id"], i["value"]) for i in task["interrupts"]] == [
        (interrupt["id"], interrupt["value"])
    ]

    await client.runs.wait(tid, "hitl", command={"resume": "yes"})
    thread = (await http.get(f"/threads/{tid}")).json()
    assert thread["status"] == "idle"
    assert thread["interrupts"] == {}
    assert thread["values"]["approved"] == "yes"
    assert contents(thread["values"]) == ["please approve", "human said yes", "done"]


async def test_thread_after_error(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    tid = (await new_thread(http, metadata={"t": tag()}))["thread_id"]
    out = await wait(http, tid, "agent", "boom")
    assert out == {"__error__": {"error": "ValueError", "message": "boom requested"}}

    thread = (await http.get(f"/threads/{tid}")).json()
    assert thread["status"] == "error"  # capture 24
    assert thread["error"] == {"error": "ValueError", "message": "boom requested"}
    assert thread["interrupts"] == {}
    assert contents(thread["values"]) == ["boom"]

    state = (await http.get(f"/threads/{tid}/state")).json()
    assert state["next"] == ["chat"]  # capture 23
    (task,) = state["tasks"]
    assert task["name"] == "chat"
    assert task["error"] == "ValueError('boom requested')"  # capture 23, not repr'd twice

    # a later successful run clears the error
    await client.runs.wait(tid, "agent", input=msg("hi"))
    thread = (await http.get(f"/threads/{tid}")).json()
    assert thread["status"] == "idle"
    assert thread["error"] is None


# ---------------------------------------------------------------------------------------------
# Supersteps


async def test_create_with_supersteps_seeds_state(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    t = tag()
    r = await http.post(
        "/threads",
        json={
            "metadata": {"t": t, "graph_id": "agent"},
            "supersteps": [
                {
                    "updates": [
                        {
                            "values": {"messages": [{"type": "human", "content": "seeded"}]},
                            "as_node": "chat",
                        }
                    ]
                },
                {
                    "updates": [
                        {
                            "values": {"messages": [{"type": "ai", "content": "reply"}]},
                            "as_node": "chat",
                        }
                    ]
                },
            ],
        },
    )
    assert r.status_code == 200, r.text
    thread = r.json()
    tid = thread["thread_id"]
    assert thread["metadata"]["t"] == t
    assert thread["metadata"]["graph_id"] == "agent"

    state = await client.threads.get_state(tid)
    assert contents(state["values"]) == ["seeded", "reply"]
    assert state["next"] == []
    assert len(await history(http, tid)) == 2
    got = await client.threads.get(tid)
    assert contents(got["values"]) == ["seeded", "reply"]

    # the seeded thread runs on from the seeded state
    await client.runs.wait(tid, "agent", input=msg("hi"))
    state = await client.threads.get_state(tid)
    assert contents(state["values"]) == ["seeded", "reply", "hi", HELLO]


async def test_create_with_supersteps_via_sdk(client: LangGraphClient) -> None:
    thread = await client.threads.create(
        metadata={"t": tag()},
        graph_id="hitl",
        supersteps=[{"updates": [{"values": {"approved": "seeded"}, "as_node": "ask"}]}],
    )
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"]["approved"] == "seeded"
    assert state["next"] == ["after"]


async def test_storage_counts_what_the_thread_occupies(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    fresh = (await http.get(f"/threads/{tid}/storage")).json()
    assert fresh == {
        "thread_id": tid,
        "total_bytes": 0,
        "checkpoints": {"count": 0, "bytes": 0},
        "channel_values": {"count": 0, "bytes": 0, "by_channel": {}},
        "pending_writes": {"count": 0, "bytes": 0},
    }
    for text in ("one", "two"):
        await client.runs.wait(
            tid, "agent", input={"messages": [{"role": "user", "content": text}]}
        )
    used = (await http.get(f"/threads/{tid}/storage")).json()
    parts = (used["checkpoints"], used["channel_values"], used["pending_writes"])
    assert used["total_bytes"] == sum(part["bytes"] for part in parts)
    history = await client.threads.get_history(tid, limit=100)
    assert used["checkpoints"]["count"] == len(history)
    assert used["checkpoints"]["bytes"] > 0
    messages = used["channel_values"]["by_channel"]["messages"]
    assert messages["versions"] >= 2 and messages["bytes"] > 0
    by_channel = used["channel_values"]["by_channel"].values()
    assert used["channel_values"]["count"] == sum(c["versions"] for c in by_channel)
    assert used["pending_writes"]["count"] > 0
    # Pruned to its latest checkpoint, it occupies less.
    assert (
        await http.post("/threads/prune", json={"thread_ids": [tid], "strategy": "keep_latest"})
    ).is_success
    pruned = (await http.get(f"/threads/{tid}/storage")).json()
    assert pruned["checkpoints"]["count"] == 1
    assert pruned["total_bytes"] < used["total_bytes"]


async def test_storage_of_a_missing_or_malformed_thread(http: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())
    r = await http.get(f"/threads/{missing}/storage")
    assert r.status_code == 404
    assert r.json() == {"detail": f"Thread with ID {missing} not found"}
    r = await http.get("/threads/not-a-uuid/storage")
    assert r.status_code == 422
    assert r.json() == {"detail": "Invalid thread ID: must be a UUID"}


async def test_deleting_a_thread_deletes_its_crons(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(
        thread["thread_id"], "trivial", schedule="0 0 1 1 *"
    )
    await client.threads.delete(thread["thread_id"])
    r = await client.http.client.get(f"/runs/crons/{cron['cron_id']}")
    assert r.status_code == 404
    assert await client.crons.search(thread_id=thread["thread_id"]) == []


async def test_deleting_the_thread_of_a_pending_stateless_run_is_204(
    http: httpx.AsyncClient,
) -> None:
    # The run's cancel takes its temporary thread with it: the thread is deleted as asked.
    body = {"assistant_id": "trivial", "input": {"messages": []}, "after_seconds": 60}
    run = (await http.post("/runs", json=body)).json()
    r = await http.delete(f"/threads/{run['thread_id']}")
    assert r.status_code == 204, r.text
    assert (await http.get(f"/threads/{run['thread_id']}")).status_code == 404
    assert (await http.delete(f"/threads/{run['thread_id']}")).status_code == 404
