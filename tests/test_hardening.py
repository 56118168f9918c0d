"""Hostile input gets a clear 4xx (`{"detail": "..."}`), never a 500 or a dropped connection:
oversized and deeply nested bodies, bad ids, unknown assistants, impossible cron schedules,
numbers and nesting the storage cannot hold. (A malformed `Last-Event-ID` is no error at all:
the stream goes on live.)

`tests/test_robustness.py` covers the first cases of deep JSON and invalid run options;
`tests/test_fuzz.py` throws generated input at every operation.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from distaff.api.validators import MAX_FILTER_DEPTH, MAX_IDS, MAX_STORE_VALUE_DEPTH
from tests.conftest import ARTIFACTS
from tests.servers import Server

LIMIT = 64 * 1024
YEARLY = "0 0 1 1 *"


def assert_detail(r: httpx.Response, status: int, part: str = "") -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    detail = r.json()["detail"]
    assert isinstance(detail, str) and part in detail, detail
    return detail


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


# -- request body size -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server() -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(
        "memory://",
        env={"DISTAFF_MAX_BODY_BYTES": str(LIMIT)},
        log_path=ARTIFACTS / "server-hardening.log",
    ) as srv:
        yield srv


@pytest.fixture
async def small(small_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with small_server.http() as c:
        yield c


def _item(size: int) -> dict[str, Any]:
    return {"namespace": ["big"], "key": "k", "value": {"blob": "x" * size}}


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length: its head and its body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 5)


async def test_a_body_over_the_limit_gets_413_and_the_connection_lives_on(
    small_server: Server, small: httpx.AsyncClient
) -> None:
    # Eight times the limit: the server answers before reading it and discards the rest as it
    # arrives, so the client gets the 413 rather than a reset, and can go on using the
    # connection (the next request on the same socket is answered).
    body = json.dumps(_item(8 * LIMIT)).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", small_server.port)
    try:
        writer.write(
            b"PUT /store/items HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head, answer = await _answer(reader)
        assert head.startswith(b"HTTP/1.1 413"), head
        assert f"limit is {LIMIT} bytes" in json.loads(answer)["detail"]
        writer.write(b"GET /ok HTTP/1.1\r\nHost: test\r\n\r\n")
        head, answer = await _answer(reader)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert json.loads(answer)["ok"] is True
    finally:
        writer.close()
    # The same through an ordinary client, and a body just under the limit is taken.
    assert_detail(await small.put("/store/items", json=_item(8 * LIMIT)), 413)
    assert (await small.put("/store/items", json=_item(LIMIT - 1024))).status_code == 204


async def test_a_chunked_body_over_the_limit_gets_413(small: httpx.AsyncClient) -> None:
    async def chunks(total: int) -> AsyncIterator[bytes]:
        body = json.dumps(_item(total)).encode()
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    # No Content-Length: the size is known only by counting what arrives.
    r = await small.put(
        "/store/items", content=chunks(4 * LIMIT), headers={"content-type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert_detail(r, 413)
    ok = await small.put(
        "/store/items", content=chunks(1024), headers={"content-type": "application/json"}
    )
    assert ok.status_code == 204


async def test_a_huge_declared_length_is_refused_before_any_body_is_sent(
    small_server: Server,
) -> None:
    """Ten gigabytes announced and none sent: only an answer that does not wait for the body
    can come back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", small_server.port)
    try:
        writer.write(
            b"POST /threads HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        await writer.drain()
        head, answer = await _answer(reader)
        assert head.startswith(b"HTTP/1.1 413"), head
        assert "too large" in json.loads(answer)["detail"]
    finally:
        writer.close()


# -- nesting ---------------------------------------------------------------------------------


async def test_json_nested_100k_deep_is_422_on_every_json_route(http: httpx.AsyncClient) -> None:
    """Deeper than the parser's stack: refused as such on every route that takes a JSON body,
    whatever the route would have done with it."""
    document = (await http.get("/openapi.json")).json()
    deep = b"[" * 100_000
    routes = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(routes) > 25
    for method, path in routes:
        url = path
        while "{" in url:  # any id: the body is read before anything is looked up
            start, end = url.index("{"), url.index("}")
            url = url[:start] + str(uuid.uuid4()) + url[end + 1 :]
        r = await http.request(
            method, url, content=deep, headers={"content-type": "application/json"}
        )
        assert_detail(r, 422, "nested too deeply")


async def test_filters_and_store_values_deeper_than_storage_takes_are_422(
    http: httpx.AsyncClient,
) -> None:
    """Containment filters are matched recursively and store values encoded by orjson; past
    their limits the answer is a 422 naming the limit, not a 500 from deep inside."""
    too_deep = nested(MAX_FILTER_DEPTH + 1)
    for path, body in [
        ("/threads/search", {"metadata": too_deep}),
        ("/threads/search", {"values": too_deep}),
        ("/threads/count", {"metadata": too_deep}),
        ("/assistants/search", {"metadata": too_deep}),
        ("/assistants/count", {"metadata": too_deep}),
        ("/runs/crons/search", {"metadata": too_deep}),
        ("/store/items/search", {"filter": too_deep}),
    ]:
        assert_detail(await http.post(path, json=body), 422, f"deeper than {MAX_FILTER_DEPTH}")
    # At the limit, a filter works, against documents nested deeper still (`{}` at its
    # bottom is contained in whatever is there).
    tag = uuid.uuid4().hex
    deep_metadata = {"tag": tag, "doc": nested(MAX_FILTER_DEPTH + 10)}
    assert (await http.post("/threads", json={"metadata": deep_metadata})).status_code == 200
    found = await http.post(
        "/threads/search",
        json={"metadata": {"tag": tag, "doc": nested(MAX_FILTER_DEPTH - 2, leaf={})}},
    )
    assert found.status_code == 200 and len(found.json()) == 1, found.text

    namespace = ["deep", tag]
    item = {"namespace": namespace, "key": "k", "value": nested(MAX_STORE_VALUE_DEPTH + 1)}
    assert_detail(await http.put("/store/items", json=item), 422, "deeper than")
    item["value"] = nested(MAX_STORE_VALUE_DEPTH, leaf=tag)
    assert (await http.put("/store/items", json=item)).status_code == 204, "at the limit"
    got = await http.get("/store/items", params={"namespace": ".".join(namespace), "key": "k"})
    assert got.json()["value"] == item["value"]


# -- numbers ---------------------------------------------------------------------------------


async def test_numbers_the_database_cannot_hold_are_422(http: httpx.AsyncClient) -> None:
    """Integers past 64 bits overflowed the SQL parameter (500); a TTL of 1e300 minutes
    overflowed the expiry date (500)."""
    huge = 2**64
    assistant = (await http.post("/assistants", json={"graph_id": "trivial"})).json()
    thread = (await http.post("/threads", json={})).json()
    checks = [
        ("POST", f"/assistants/{assistant['assistant_id']}/latest", {"version": huge}),
        ("POST", "/threads/search", {"offset": huge}),
        ("POST", "/assistants/search", {"offset": huge}),
        ("POST", "/runs/crons/search", {"offset": huge}),
        ("POST", "/store/items/search", {"offset": huge}),
        ("POST", "/store/namespaces", {"max_depth": huge}),
        ("POST", "/threads", {"ttl": {"ttl": 1e300}}),
        ("PATCH", f"/threads/{thread['thread_id']}", {"ttl": {"ttl": 1e300}}),
        ("PUT", "/store/items", {"namespace": ["n"], "key": "k", "value": {}, "ttl": 1e300}),
    ]
    for method, path, body in checks:
        assert_detail(await http.request(method, path, json=body), 422, "less than or equal")
    runs = await http.get(f"/threads/{thread['thread_id']}/runs", params={"offset": str(huge)})
    assert_detail(runs, 422, "offset")


# -- ids -------------------------------------------------------------------------------------


async def test_malformed_ids_are_4xx_everywhere(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    bad = "not-a-uuid"
    not_found = [
        ("GET", f"/threads/{tid}/runs/{bad}"),
        ("DELETE", f"/threads/{tid}/runs/{bad}"),
        ("GET", f"/threads/{tid}/runs/{bad}/join"),
        ("GET", f"/threads/{tid}/runs/{bad}/stream"),
        ("POST", f"/threads/{tid}/runs/{bad}/cancel"),
        ("GET", f"/threads/{bad}/runs/{uuid.uuid4()}"),
        ("GET", f"/runs/{bad}"),
        ("GET", f"/runs/{bad}/stream"),
        ("GET", f"/threads/{bad}/stream"),
        ("POST", f"/threads/{bad}/copy"),
        ("GET", f"/runs/crons/{bad}"),
        ("DELETE", f"/runs/crons/{bad}"),
    ]
    for method, path in not_found:
        assert_detail(await http.request(method, path), 404)
    assert_detail(await http.patch(f"/runs/crons/{bad}", json={"enabled": False}), 404)
    run = {"assistant_id": "trivial"}
    assert_detail(await http.post(f"/threads/{bad}/runs", json=run), 404)
    for path, body in [
        ("/threads", {"thread_id": bad}),
        ("/assistants", {"graph_id": "trivial", "assistant_id": bad}),
        ("/runs/cancel", {"thread_id": bad, "run_ids": [bad]}),
        ("/runs/crons/search", {"thread_id": bad}),
        ("/runs/crons/count", {"thread_id": bad}),
    ]:
        assert_detail(await http.post(path, json=body), 422, "UUID")
    for method in ("GET", "DELETE"):
        assert_detail(await http.request(method, f"/assistants/{bad}"), 422, "must be a UUID")


async def test_unknown_assistants_are_422_by_name_and_404_by_id(
    http: httpx.AsyncClient,
) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    missing = str(uuid.uuid4())
    # The good item of each batch below runs this assistant on a kept thread: a thread that
    # carries its id would show that the batch created a run.
    own = (await http.post("/assistants", json={"graph_id": "trivial"})).json()["assistant_id"]
    for assistant, status, part in [("nosuch", 422, "registered graphs"), (missing, 404, "")]:
        body = {"assistant_id": assistant}
        for path in ("/runs", "/runs/wait", "/runs/stream", f"/threads/{tid}/runs/stream"):
            assert_detail(await http.post(path, json=body), status, part)
        cron = {"assistant_id": assistant, "schedule": YEARLY}
        assert_detail(await http.post(f"/threads/{tid}/runs/crons", json=cron), status, part)
        assert_detail(await http.get(f"/assistants/{assistant}/graph"), status, part)
        # A batch with one unknown assistant creates none of its runs.
        good = {"assistant_id": own, "on_completion": "keep", "after_seconds": 3600}
        assert_detail(await http.post("/runs/batch", json=[good, body]), status, part)
    assert (await http.get(f"/threads/{tid}/runs")).json() == []
    assert (await http.post("/threads/count", json={"metadata": {"assistant_id": own}})).json() == 0
    # (The same good item alone does create its run's thread: the count above can fail.)
    assert (await http.post("/runs/batch", json=[good])).status_code == 200
    assert (await http.post("/threads/count", json={"metadata": {"assistant_id": own}})).json() == 1
    for path in (f"/assistants/{missing}", f"/assistants/{missing}/schemas"):
        assert_detail(await http.get(path), 404)


async def test_a_batch_over_the_cap_is_422_and_creates_no_run(http: httpx.AsyncClient) -> None:
    """`/runs/batch` takes at most `MAX_IDS` runs, like every id list; one more is refused
    before any run (or its thread) exists."""
    assistant = (await http.post("/assistants", json={"graph_id": "trivial"})).json()
    aid = assistant["assistant_id"]
    # Delayed an hour, so the runs (and the threads they run on) stay to be counted.
    item = {"assistant_id": aid, "after_seconds": 3600, "on_completion": "keep"}
    search = {"metadata": {"assistant_id": aid}, "limit": 1000}
    r = await http.post("/runs/batch", json=[item] * (MAX_IDS + 1))
    assert_detail(r, 422, f"at most {MAX_IDS} items")
    assert (await http.post("/threads/search", json=search)).json() == []
    created = await http.post("/runs/batch", json=[item] * 2)
    assert created.status_code == 200 and len(created.json()) == 2, created.text
    threads = (await http.post("/threads/search", json=search)).json()
    assert sorted(t["thread_id"] for t in threads) == sorted(
        run["thread_id"] for run in created.json()
    )
    for run in created.json():
        assert (await http.delete(f"/threads/{run['thread_id']}")).status_code == 204


# -- streams ---------------------------------------------------------------------------------


async def test_a_malformed_or_unknown_last_event_id_replays_nothing(
    http: httpx.AsyncClient,
) -> None:
    # Clients treat the id as an opaque token (the reference answers 200 and goes on live):
    # one that is not an event of the run is no error, there is only nothing after it.
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    body = {"assistant_id": "trivial", "input": {"messages": []}, "stream_resumable": True}
    assert (await http.post(f"/threads/{tid}/runs/wait", json=body)).status_code == 200
    rid = (await http.get(f"/threads/{tid}/runs")).json()[0]["run_id"]
    joins = [f"/threads/{tid}/runs/{rid}/stream", f"/runs/{rid}/stream"]
    for path in joins:
        for value in ("garbage", "12-x", "1-2-3", "9" * 5000, "1-0", "99999999999999-0"):
            r = await http.get(path, headers={"Last-Event-ID": value})
            assert r.status_code == 200, (path, value, r.text)
            assert "event:" not in r.text, (path, value)  # the run ended: nothing live either
    async with http.stream(
        "GET", f"/threads/{tid}/stream", headers={"Last-Event-ID": "garbage"}
    ) as r:
        assert r.status_code == 200
    # A well-formed one still replays the finished resumable run from the start.
    replay = await http.get(joins[0], headers={"Last-Event-ID": "-1"})
    assert replay.status_code == 200
    assert replay.text.startswith("event: metadata")


# -- crons -----------------------------------------------------------------------------------


async def test_cron_schedules_and_end_times_that_cannot_be_are_422(
    http: httpx.AsyncClient,
) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    for schedule in ("0 0 31 2 *", "0 0 30 2 *"):  # valid fields, no such day
        body = {"assistant_id": "trivial", "schedule": schedule}
        assert_detail(await http.post("/runs/crons", json=body), 422, "never fires")
        assert_detail(await http.post(f"/threads/{tid}/runs/crons", json=body), 422, "never fires")
    for end_time in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        body = {"assistant_id": "trivial", "schedule": YEARLY, "end_time": end_time}
        assert_detail(await http.post("/runs/crons", json=body), 422, "out of range")
    cron = await http.post("/runs/crons", json={"assistant_id": "trivial", "schedule": YEARLY})
    cid = cron.json()["cron_id"]
    patches = [
        ({"schedule": "not a cron"}, "Invalid cron schedule"),
        ({"schedule": "0 0 31 4 *"}, "never fires"),
        ({"end_time": "0001-01-01T00:00:00+01:00"}, "out of range"),
    ]
    for patch, part in patches:
        assert_detail(await http.patch(f"/runs/crons/{cid}", json=patch), 422, part)
    assert (await http.get(f"/runs/crons/{cid}")).json()["schedule"] == YEARLY
    await http.delete(f"/runs/crons/{cid}")


# -- odd but valid input ---------------------------------------------------------------------


async def test_integers_beyond_64_bits_in_store_values_are_422_on_every_backend(
    http: httpx.AsyncClient,
) -> None:
    for value in ({"n": 2**64}, {"deep": [{"n": -(2**63) - 1}]}):
        body = {"namespace": ["big"], "key": "k", "value": value}
        assert_detail(await http.put("/store/items", json=body), 422, "beyond 64 bits")
    # The edges of the 64-bit range are stored, and read back exactly.
    edges = {"max": 2**64 - 1, "min": -(2**63)}
    ok = await http.put("/store/items", json={"namespace": ["big"], "key": "k", "value": edges})
    assert ok.status_code == 204, ok.text
    got = await http.get("/store/items", params={"namespace": "big", "key": "k"})
    assert got.json()["value"] == edges


async def test_nul_characters_are_stored_or_refused_never_500(
    http: httpx.AsyncClient, backend_name: str
) -> None:
    # PostgreSQL cannot hold "\u0000" in text or jsonb; SQLite can. Either way: no 500.
    attempts = [
        ("POST", "/assistants", {"graph_id": "trivial", "name": "a\u0000b"}),
        ("POST", "/assistants", {"graph_id": "trivial", "description": "a\u0000b"}),
        ("PUT", "/store/items", {"namespace": ["n"], "key": "k\u0000", "value": {"a": 1}}),
        ("PUT", "/store/items", {"namespace": ["n"], "key": "k", "value": {"a": "x\u0000"}}),
        ("POST", "/store/items/search", {"namespace_prefix": ["n"], "filter": {"a": "x\u0000"}}),
    ]
    for method, path, body in attempts:
        r = await http.request(method, path, json=body)
        if backend_name == "postgres":
            assert_detail(r, 422, "cannot store")
        else:
            assert r.status_code < 300, (path, r.text)


@pytest.mark.parametrize(
    ("command", "part"),
    [
        ({"goto": {"input": 1}}, "command.goto"),
        ({"goto": [{"node": 3}]}, "command.goto"),
        ({"goto": "nosuch"}, "names no node of graph 'hitl': nosuch"),
        ({"goto": ["ask", {"node": "nowhere"}]}, "nowhere"),
        ({"update": [["only-a-key"]]}, "command.update"),
        ({"update": 5}, "command.update"),
    ],
)
async def test_a_malformed_command_is_422_before_any_run(
    http: httpx.AsyncClient, command: dict[str, Any], part: str
) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    r = await http.post(
        f"/threads/{tid}/runs/wait", json={"assistant_id": "hitl", "command": command}
    )
    assert_detail(r, 422, part)
    assert (await http.get(f"/threads/{tid}/runs")).json() == []


async def test_a_valid_goto_still_runs(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    body = {"assistant_id": "hitl", "command": {"goto": {"node": "after", "input": {}}}}
    r = await http.post(f"/threads/{tid}/runs/wait", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["messages"][-1]["content"] == "done"


async def test_cron_schedules_of_more_than_six_fields_are_422(http: httpx.AsyncClient) -> None:
    for schedule in ("0 0 1 1 * 0 2030", "* * * * * * *"):
        body = {"assistant_id": "trivial", "schedule": schedule}
        assert_detail(await http.post("/runs/crons", json=body), 422, "Invalid cron schedule")
