"""Encryption at rest (`encryption.path`): with the handlers of tests/encryption_app (XOR and
base64 behind `enc:` / `ENC!`, reversible and easy to spot), a secret sent in a run's input and
command, in thread and run metadata, in a store value and in a cron's payload is stored only as
ciphertext, in the SQLite file (and its WAL) and in every PostgreSQL table, while every API read
gives it back in plain: state, history, runs, threads, joins, a v1 stream, a v2 replay, the store
and crons. A JSON encryptor that drops a key is refused with a clear error, and a search by an
encrypted metadata value finds nothing while one by a plain value does. A resumable stream's
events are logged sealed (PostgreSQL's `run_events`, Redis Streams), a refused thread seed leaves
no thread, a sync node's `subgraph.invoke` uses the encrypted checkpointer, and opening never
decrypts into what an inner store keeps.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.store.memory import InMemoryStore
from langgraph_sdk import Encryption, EncryptionContext
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.encryption.types import DecryptResult
from typing_extensions import TypedDict

from distaff.backends.encrypted.cipher import Cipher, EncryptionError
from distaff.backends.encrypted.repos import (
    EncryptedAssistants,
    EncryptedRuns,
    EncryptedThreads,
    seal_thread,
)
from distaff.backends.encrypted.saver import EncryptedSaver
from distaff.backends.encrypted.store import EncryptedStore
from tests.clients import sdk, wait_status
from tests.conftest import ARTIFACTS, backend_env, database_url
from tests.servers import Server
from tests.v2 import replay, start

MANIFEST = Path(__file__).parent / "encryption_app" / "langgraph.json"
#: What tests/encryption_app/encryption.py puts before its ciphertexts (not imported: creating an
#: `Encryption` warns that the API is in beta, and warnings fail the tests).
PREFIX, BLOB_PREFIX = "enc:", b"ENC!"


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _contents(values: Any) -> list[str]:
    return [m["content"] for m in values["messages"]]


@pytest.fixture(scope="module", params=["memory", "sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("encryption")
    srv = Server(
        database_url(request.param, root, request),
        manifest=MANIFEST,
        log_path=ARTIFACTS / f"server-encryption-{request.param}.log",
    ).start()
    yield srv
    srv.stop()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[LangGraphClient]:
    async with sdk(server) as lg:
        yield lg


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with server.http() as c:
        yield c


def stored_text(url: str) -> str | None:
    """Everything the database holds, as text (bytes decoded leniently, bytea as hex too);
    None for memory://, which keeps nothing at rest."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        return raw.decode("latin-1")
    if url.startswith("postgresql://"):
        parts = []
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT schemaname, tablename FROM pg_tables"
                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            ).fetchall()
            assert len(tables) > 5
            for schema, table in tables:
                for (row,) in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t'):
                    parts.append(row)
        return "\n".join(parts)
    return None


def hidden(secret: str, text: str) -> bool:
    """Neither the secret nor its bytes as PostgreSQL prints a bytea (hex) are in `text`."""
    return secret not in text and secret.encode().hex() not in text


# The tests take the SDK client as `Any`: its TypedDicts leave out what distaff serves (a run's
# `kwargs`) and type a cron as a run.
async def _idle(client: LangGraphClient, thread_id: str) -> dict[str, Any]:
    for _ in range(200):
        thread = await client.threads.get(thread_id)
        if thread["status"] != "busy":
            return dict(thread)
        await asyncio.sleep(0.05)
    raise AssertionError(f"thread {thread_id} still busy")


async def test_secrets_are_stored_encrypted_and_read_back_plain(
    server: Server, client: Any, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    secret = {
        name: f"s3cret-{name}-{tag}"
        for name in (
            "input",
            "stream",
            "v2",
            "resume",
            "thread",
            "run",
            "store",
            "cron",
            "assistant",
            "sync",
        )
    }

    # Writes, each read back in plain as it is made.
    thread = await client.threads.create(metadata={"secret": secret["thread"], "plain": tag})
    tid = thread["thread_id"]
    assert thread["metadata"]["secret"] == secret["thread"]
    out = await client.runs.wait(
        tid, "agent", input=_msg(secret["input"]), metadata={"secret": secret["run"]}
    )
    assert isinstance(out, dict) and _contents(out) == [secret["input"], "Hello there friend"]

    chunks = [
        c
        async for c in client.runs.stream(
            tid, "agent", input=_msg(secret["stream"]), stream_mode="values"
        )
    ]
    assert any(c.event == "values" and secret["stream"] in _contents(c.data) for c in chunks), (
        chunks
    )

    hitl = (await client.threads.create())["thread_id"]
    await client.runs.wait(hitl, "hitl", input=_msg("go"))
    paused = await client.threads.get(hitl)
    assert paused["status"] == "interrupted"
    (waiting,) = paused["interrupts"].values()
    assert waiting[0]["value"] == {"question": "approve?", "n": 1}
    state = await client.threads.get_state(hitl)
    assert state["tasks"][0]["interrupts"][0]["value"] == {"question": "approve?", "n": 1}
    resumed = await client.runs.create(hitl, "hitl", command={"resume": secret["resume"]})
    joined = await client.runs.join(hitl, resumed["run_id"])
    assert isinstance(joined, dict) and joined["approved"] == secret["resume"]

    v2 = str(uuid.uuid4())
    await start(http, v2, "agent", input=_msg(secret["v2"]))
    await _idle(client, v2)

    await client.store.put_item(["vault", tag], "item", {"secret": secret["store"], "plain": tag})
    filed = await client.runs.wait(None, "filer", input={"key": tag, "text": secret["sync"]})
    assert filed["read_back"] == {"text": secret["sync"]}  # a sync node's store calls

    assistant = await client.assistants.create(
        "agent",
        config={"configurable": {"api_key": secret["assistant"]}},
        metadata={"secret": secret["assistant"], "plain": tag},
    )
    aid = assistant["assistant_id"]
    assert assistant["config"]["configurable"]["api_key"] == secret["assistant"]
    assert (await client.assistants.get(aid))["metadata"]["secret"] == secret["assistant"]
    (listed,) = await client.assistants.search(metadata={"plain": tag})
    assert listed["config"]["configurable"]["api_key"] == secret["assistant"]
    by_assistant = await client.runs.wait(None, aid, input=_msg("via assistant"))
    assert _contents(by_assistant)[-1] == "Hello there friend"

    cron = await client.crons.create_for_thread(
        tid,
        "agent",
        schedule="0 0 1 1 *",
        input=_msg(secret["cron"]),
        metadata={"secret": secret["cron"]},
    )
    # Reads.
    r = await http.get(f"/runs/crons/{cron['cron_id']}")
    assert r.status_code == 200, r.text
    assert r.json()["payload"]["input"] == _msg(secret["cron"])
    assert r.json()["metadata"]["secret"] == secret["cron"]

    state = await client.threads.get_state(tid)
    assert secret["input"] in _contents(state["values"])
    assert secret["stream"] in _contents(state["values"])
    history = await client.threads.get_history(tid)
    assert len(history) >= 4
    assert any(h["metadata"].get("secret") == secret["run"] for h in history)
    assert secret["input"] in _contents(history[-2]["values"]) or any(
        secret["input"] in _contents(h["values"]) for h in history if h["values"]
    )
    got = await client.threads.get(tid)
    assert got["metadata"]["secret"] == secret["thread"]
    assert secret["stream"] in _contents(got["values"])
    (found,) = await client.threads.search(metadata={"plain": tag})
    assert found["metadata"]["secret"] == secret["thread"]
    assert secret["stream"] in _contents(found["values"])
    runs = await client.runs.list(tid)
    first = next(run for run in runs if run["metadata"].get("secret") == secret["run"])
    run = await client.runs.get(tid, first["run_id"])
    assert run["kwargs"]["input"] == _msg(secret["input"])
    assert run["metadata"]["secret"] == secret["run"]
    assert run["kwargs"]["temporary"] is False  # the server's own flags stay plain
    assert (await client.threads.get_state(hitl))["values"]["approved"] == secret["resume"]

    events = await replay(http, v2)
    assert secret["v2"] in json.dumps(events)

    item = await client.store.get_item(["vault", tag], "item")
    assert item is not None and item["value"] == {"secret": secret["store"], "plain": tag}
    hits = (await client.store.search_items(["vault", tag]))["items"]
    assert [h["value"]["secret"] for h in hits] == [secret["store"]]

    # At rest: ciphertext only.
    stored = stored_text(server.database_url)
    if stored is None:
        return  # memory:// keeps nothing at rest
    assert PREFIX in stored, "no JSON ciphertext in the database"
    assert BLOB_PREFIX.decode() in stored or BLOB_PREFIX.hex() in stored, "no blob ciphertext"
    assert tag in stored  # the plain field is there, so the search above could find it
    leaked = [name for name, value in secret.items() if not hidden(value, stored)]
    assert leaked == [], [
        stored[max(0, stored.find(secret[n]) - 300) : stored.find(secret[n]) + 50] for n in leaked
    ]


async def test_a_json_encryptor_that_drops_a_key_is_refused(http: httpx.AsyncClient) -> None:
    r = await http.post("/threads", json={"metadata": {"drop_me": 1, "kept": 2}})
    assert r.status_code == 500
    detail = r.json()["detail"]
    assert "must keep the keys of thread.metadata" in detail and "drop_me" in detail


async def test_search_by_an_encrypted_field_finds_nothing(client: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    await client.threads.create(metadata={"secret": f"hidden-{tag}", "plain": tag})
    assert await client.threads.search(metadata={"secret": f"hidden-{tag}"}) == []
    (found,) = await client.threads.search(metadata={"plain": tag})
    assert found["metadata"]["secret"] == f"hidden-{tag}"


async def test_copy_and_subgraphs_work_encrypted(client: Any) -> None:
    tid = (await client.threads.create())["thread_id"]
    out = await client.runs.wait(tid, "parent", input=_msg("sub"))
    assert isinstance(out, dict) and _contents(out)[-2:] == ["from outer", "from inner"]
    copy = await client.threads.copy(tid)
    original = await client.threads.get_state(tid)
    copied = await client.threads.get_state(copy["thread_id"])
    assert copied["values"] == original["values"]
    more = await client.runs.wait(copy["thread_id"], "parent", input=_msg("again"))
    assert isinstance(more, dict) and len(more["messages"]) == 6
    r = await client.http.get(f"/threads/{tid}/storage")
    assert r["checkpoints"]["count"] >= 2


async def test_a_killed_run_resumes_from_its_encrypted_checkpoint(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """After a SIGKILL the next process finds the run's last checkpoint (by the `run_id` in its
    metadata, read through the encrypted saver) and resumes it, not applying its input twice."""
    url = database_url("sqlite", tmp_path, request)
    env = {"DISTAFF_TEST_SLOW_DELAY": "0.1"}
    log = ARTIFACTS / "server-encryption-resume.log"
    with Server(url, env=env, manifest=MANIFEST, log_path=log) as first:
        async with sdk(first) as client:
            tid = (await client.threads.create())["thread_id"]
            run = await client.runs.create(tid, "slow", input=_msg("20"))
            await wait_status(client, tid, run["run_id"], {"running"})
            await asyncio.sleep(0.4)  # a few ticks in: the input checkpoint is written
        first.kill()
    with Server(url, env=env, manifest=MANIFEST, log_path=log) as second:
        async with sdk(second) as client:
            status = await wait_status(client, tid, run["run_id"], {"success", "error"}, 20)
            assert status == "success"
            got = await client.threads.get(tid)
            assert _contents(got["values"]) == ["20", "slow done"]


async def test_a_custom_saver_and_store_receive_only_ciphertext(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """With `checkpointer.path` and `store.path` (langgraph's aiosqlite saver and store, on
    files of their own), the encryption wraps them too: they are handed sealed values only."""
    saver_db, store_db = tmp_path / "saver.sqlite", tmp_path / "store.sqlite"
    tag = uuid.uuid4().hex[:8]
    secret_input, secret_store = f"s3cret-custom-input-{tag}", f"s3cret-custom-store-{tag}"
    srv = Server(
        database_url("sqlite", tmp_path, request),
        manifest=MANIFEST.with_name("langgraph.custom.json"),
        env={"CUSTOM_SAVER_DB": str(saver_db), "CUSTOM_STORE_DB": str(store_db)},
        log_path=ARTIFACTS / "server-encryption-custom.log",
    )
    with srv:
        async with sdk(srv) as client:
            tid = (await client.threads.create())["thread_id"]
            out = await client.runs.wait(tid, "agent", input=_msg(secret_input))
            assert isinstance(out, dict) and _contents(out)[0] == secret_input
            await client.runs.wait(tid, "hitl", input=_msg("go"))
            resumed = await client.runs.wait(tid, "hitl", command={"resume": "yes"})
            assert isinstance(resumed, dict) and resumed["approved"] == "yes"
            copy = await client.threads.copy(tid)
            copied = await client.threads.get_state(copy["thread_id"])
            assert copied["values"] == (await client.threads.get_state(tid))["values"]
            await client.store.put_item(["vault"], tag, {"secret": secret_store})
            item = await client.store.get_item(["vault"], tag)
            assert item is not None and item["value"] == {"secret": secret_store}
            for db, secret in ((saver_db, secret_input), (store_db, secret_store)):
                stored = stored_text(f"sqlite:///{db}")
                assert stored is not None and hidden(secret, stored), db
            saved = stored_text(f"sqlite:///{saver_db}")
            assert saved is not None and BLOB_PREFIX.decode() in saved
            kept = stored_text(f"sqlite:///{store_db}")
            assert kept is not None and PREFIX in kept


async def test_a_refused_seed_leaves_no_thread(http: httpx.AsyncClient) -> None:
    """Supersteps naming a node the graph lacks are refused, and the thread made for them is
    deleted again: the encrypted repo hands back the caller's thread when it inserted it."""
    tid = str(uuid.uuid4())
    body = {
        "thread_id": tid,
        "metadata": {"graph_id": "agent"},
        "supersteps": [{"updates": [{"values": {"messages": []}, "as_node": "no_such_node"}]}],
    }
    r = await http.post("/threads", json=body)
    assert r.status_code == 400, r.text
    assert (await http.get(f"/threads/{tid}")).status_code == 404


async def test_a_sync_node_invoking_a_subgraph_uses_the_encrypted_saver(client: Any) -> None:
    """The subgraph inherits the run's checkpointer and calls its sync methods from the node's
    worker thread: they run on the server's loop, through the async handlers."""
    tid = (await client.threads.create())["thread_id"]
    out = await client.runs.wait(tid, "nested", input={"notes": ["start"]})
    assert out == {"notes": ["start", "from outer", "from inner"]}, out
    state = await client.threads.get_state(tid)
    assert state["values"] == {"notes": ["start", "from outer", "from inner"]}
    (run,) = await client.runs.list(tid)
    assert run["status"] == "success"


def _redis_entries(url: str) -> list[bytes]:
    """Every field of every entry of every stream in Redis."""
    import redis

    found: list[bytes] = []
    r = redis.Redis.from_url(url)
    try:
        for key in r.scan_iter("*"):
            if r.type(key) != b"stream":
                continue
            for _, fields in r.xrange(key):  # type: ignore[union-attr]
                found.extend(fields.values())
    finally:
        r.close()
    return found


@pytest.mark.parametrize("backend", ["postgres", "redis"])
async def test_a_resumable_streams_events_are_logged_sealed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The events of a `stream_resumable` run, kept for rejoins and other processes, are stored
    with their data sealed (PostgreSQL's `run_events`; Redis Streams with `redis_url`), while the
    stream and a join of it from the stream endpoint give the client plain events."""
    url = database_url(backend, tmp_path, request)
    env = backend_env(backend, request)
    secret = f"s3cret-resumable-{uuid.uuid4().hex[:8]}"
    log = ARTIFACTS / f"server-encryption-resumable-{backend}.log"
    with Server(url, env=env, manifest=MANIFEST, log_path=log) as srv:
        async with sdk(srv) as client:
            tid = (await client.threads.create())["thread_id"]
            live = [
                c
                async for c in client.runs.stream(
                    tid,
                    "agent",
                    input=_msg(secret),
                    stream_mode="values",
                    stream_resumable=True,
                )
            ]
            assert any(c.event == "values" and secret in _contents(c.data) for c in live), live
            run_id = live[0].data["run_id"]
            await wait_status(client, tid, run_id, {"success"})
            joined = [c async for c in client.runs.join_stream(tid, run_id, last_event_id="0")]
            assert [(c.event, c.data) for c in joined] == [(c.event, c.data) for c in live]

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT event, data FROM run_events").fetchall()
    logged = [bytes(data) for _, data in rows]
    if backend == "redis":
        assert logged == []  # Redis carries the events; the database only the notifications
        logged = _redis_entries(env["DISTAFF_REDIS_URL"])
    assert logged, "no events were logged"
    leaked = [data for data in logged if secret.encode() in data]
    assert leaked == []
    assert any(BLOB_PREFIX in data for data in logged), logged[:5]
    stored = stored_text(url)
    assert stored is not None and hidden(secret, stored)


# --- the wrappers alone, on langgraph's in-memory saver ----------------------------------------


async def test_opening_a_store_item_leaves_the_inner_stores_sealed() -> None:
    """langgraph's InMemoryStore hands out the items it keeps: opened into copies, they stay
    sealed there."""
    inner = InMemoryStore()
    store = EncryptedStore(inner, Cipher(_encryption(blobs=False, json_handlers=True)))
    await store.aput(("vault",), "k", {"secret": "store-secret"})
    item = await store.aget(("vault",), "k")
    assert item is not None and item.value == {"secret": "store-secret"}
    (hit,) = await store.asearch(("vault",))
    assert hit.value == {"secret": "store-secret"}
    kept = await inner.aget(("vault",), "k")
    assert kept is not None and "store-secret" not in json.dumps(kept.value)
    assert kept.value["secret"].startswith(PREFIX)


def _encryption(*, blobs: bool, json_handlers: bool, rotate: bool = False) -> Encryption:
    with warnings.catch_warnings():  # "the Encryption API is in beta"
        warnings.simplefilter("ignore")
        encryption = Encryption()
    if blobs:

        @encryption.encrypt.blob
        async def seal(ctx: EncryptionContext, blob: bytes) -> bytes:
            return BLOB_PREFIX + blob[::-1]

        @encryption.decrypt.blob
        async def unseal(ctx: EncryptionContext, blob: bytes) -> bytes | DecryptResult[bytes]:
            plain = blob.removeprefix(BLOB_PREFIX)[::-1]
            return DecryptResult(plain, replacement=b"rotated") if rotate else plain

    if json_handlers:

        @encryption.encrypt.json
        async def seal_json(ctx: EncryptionContext, data: dict[str, Any]) -> dict[str, Any]:
            return {k: PREFIX + json.dumps(v)[::-1] for k, v in data.items()}

        @encryption.decrypt.json
        async def unseal_json(
            ctx: EncryptionContext, data: dict[str, Any]
        ) -> dict[str, Any] | DecryptResult[dict[str, Any]]:
            plain = {
                k: json.loads(v.removeprefix(PREFIX)[::-1])
                if isinstance(v, str) and v.startswith(PREFIX)
                else v
                for k, v in data.items()
            }
            return DecryptResult(plain) if rotate else plain

    return encryption


class _Notes(TypedDict, total=False):
    notes: list[str]


def _note(state: _Notes) -> dict[str, Any]:
    return {"notes": [*state.get("notes", []), "noted"]}


def _notes_graph(saver: BaseCheckpointSaver[Any]) -> Any:
    builder = StateGraph(_Notes)
    builder.add_node("note", _note)
    builder.add_edge(START, "note")
    return builder.compile(checkpointer=saver)


@pytest.mark.parametrize(
    ("blobs", "json_handlers", "rotate"),
    [(True, True, False), (True, True, True), (False, True, False), (True, False, False)],
)
async def test_the_saver_seals_what_it_has_handlers_for(
    blobs: bool, json_handlers: bool, rotate: bool
) -> None:
    """Values and writes are sealed only with a blob encryptor, metadata only with a JSON one;
    a `DecryptResult`'s plaintext is what reads give back."""
    inner = InMemorySaver()
    cipher = Cipher(_encryption(blobs=blobs, json_handlers=json_handlers, rotate=rotate))
    graph = _notes_graph(EncryptedSaver(inner, cipher))
    config: Any = {"configurable": {"thread_id": "t"}, "metadata": {"secret": "meta-secret"}}
    out = await graph.ainvoke({"notes": ["plain-secret"]}, config)
    assert out == {"notes": ["plain-secret", "noted"]}
    state = await graph.aget_state(config)
    assert state.values == out and state.metadata["secret"] == "meta-secret"
    history = [s async for s in graph.aget_state_history(config)]
    assert [s.metadata["source"] for s in history] == ["loop", "loop", "input"]

    blobs_text = repr(inner.storage) + repr(inner.writes) + repr(inner.blobs)
    assert ("plain-secret" not in blobs_text) is blobs
    assert (BLOB_PREFIX.decode() in blobs_text) is blobs
    # Checkpoint metadata is kept (msgpack) in `storage`; sealed only with JSON handlers.
    assert ("meta-secret" not in repr(inner.storage)) is json_handlers
    # langgraph's own keys stay plain: history filters on them in the saver.
    history = [s async for s in graph.aget_state_history(config, filter={"source": "input"})]
    assert len(history) == 1


async def test_a_json_encryptor_changing_the_keys_is_an_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encryption = Encryption()

    @encryption.encrypt.json
    async def merge(ctx: EncryptionContext, data: dict[str, Any]) -> dict[str, Any]:
        return {"__encrypted__": json.dumps(data)}

    with pytest.raises(EncryptionError, match=r"must keep the keys of run\.metadata"):
        await Cipher(encryption).seal_json("run", "metadata", {"a": 1})


class _Keeper:
    """An inner repo that hands out the very records it keeps, as an in-memory one may."""

    def __init__(self) -> None:
        self.kept: dict[str, Any] = {}

    async def create(self, record: Any, *, do_nothing: bool) -> Any:
        key = record.get("thread_id") or record["assistant_id"]
        if key in self.kept:
            return self.kept[key]
        self.kept[key] = record
        return record

    async def get(self, key: str, thread_id: str | None = None) -> Any:
        return self.kept.get(key)


async def test_the_repos_open_into_copies() -> None:
    """A record opened for the caller is a copy: the inner repo's stays sealed."""
    cipher = Cipher(_encryption(blobs=False, json_handlers=True))
    keeper = _Keeper()
    keeper.kept["t"] = await seal_thread(
        cipher, {"thread_id": "t", "metadata": {"secret": "thread-secret"}, "values": {"v": 1}}
    )
    got = await EncryptedThreads(cast(Any, keeper), cipher).get("t")
    assert got is not None and got["metadata"] == {"secret": "thread-secret"}
    assert got["values"] == {"v": 1}
    assert keeper.kept["t"]["metadata"]["secret"].startswith(PREFIX)
    assert keeper.kept["t"]["values"]["v"].startswith(PREFIX)

    assistants = EncryptedAssistants(cast(Any, keeper), cipher)
    keeper.kept["a"] = await assistants._seal({"assistant_id": "a", "metadata": {"s": "a-secret"}})
    found = await assistants.get("a")
    assert found is not None and found["metadata"] == {"s": "a-secret"}
    assert keeper.kept["a"]["metadata"]["s"].startswith(PREFIX)

    runs = EncryptedRuns(cast(Any, keeper), cipher, cast(Any, None))
    keeper.kept["r"] = await runs._seal(
        cast(Any, {"run_id": "r", "metadata": {"secret": "run-secret"}, "kwargs": {"input": 1}})
    )
    run = await runs.get("r")
    assert run is not None and run["metadata"] == {"secret": "run-secret"}
    assert run["kwargs"] == {"input": 1}
    assert keeper.kept["r"]["metadata"]["secret"].startswith(PREFIX)
    assert keeper.kept["r"]["kwargs"]["input"].startswith(PREFIX)


async def test_create_hands_back_the_callers_record_when_it_was_inserted() -> None:
    """The services tell a record they made from one already there by identity: `create` gives
    the caller's own object back when the inner repo inserted it, an opened copy otherwise."""
    cipher = Cipher(_encryption(blobs=False, json_handlers=True))
    keeper = _Keeper()
    threads = EncryptedThreads(cast(Any, keeper), cipher)
    thread: Any = {"thread_id": "t", "metadata": {"secret": "thread-secret"}, "values": None}
    assert await threads.create(thread, do_nothing=True) is thread
    again = await threads.create(dict(thread), do_nothing=True)
    assert again is not thread and again["metadata"] == {"secret": "thread-secret"}
    assert keeper.kept["t"]["metadata"]["secret"].startswith(PREFIX)

    assistants = EncryptedAssistants(cast(Any, keeper), cipher)
    assistant: Any = {"assistant_id": "a", "config": {}, "metadata": {"secret": "a-secret"}}
    assert await assistants.create(assistant, do_nothing=True) is assistant
    existing = await assistants.create(dict(assistant), do_nothing=True)
    assert existing is not assistant and existing["metadata"] == {"secret": "a-secret"}
