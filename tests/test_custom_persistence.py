"""A custom checkpointer and store named in the manifest (`checkpointer.path`, `store.path`):
langgraph's aiosqlite saver and store, each on a file of its own, opened from an async context
manager and an async factory (tests/custom_persistence_app). Every checkpoint and store write
lands in those files, none in the backend's own tables, and the server works on them end to
end; what the saver's public interface cannot do is refused with a 422 that says why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph_sdk.client import LangGraphClient

from distaff import persistence
from distaff.settings import SerdeSettings
from tests.clients import sdk
from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server

MANIFEST = Path(__file__).parent / "custom_persistence_app" / "langgraph.json"


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


class Custom:
    """A server on the custom saver and store, and what they hold."""

    def __init__(self, server: Server, saver_db: Path, store_db: Path) -> None:
        self.server, self.saver_db, self.store_db = server, saver_db, store_db

    def saved(self, sql: str, *args: Any) -> Any:
        with sqlite3.connect(self.saver_db) as conn:
            return conn.execute(sql, args).fetchone()[0]

    def checkpoints(self, thread_id: str) -> int:
        return int(self.saved("SELECT count(*) FROM checkpoints WHERE thread_id=?", thread_id))

    def stored(self, sql: str, *args: Any) -> list[Any]:
        with sqlite3.connect(self.store_db) as conn:
            return conn.execute(sql, args).fetchall()

    def own_checkpoints(self) -> int | None:
        """Checkpoints in the backend's own tables (None on memory, which has no file)."""
        url = self.server.database_url
        if url.startswith("sqlite:///"):
            with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
                return int(conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0])
        if url.startswith("postgresql://"):
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
                assert row is not None
                return int(row[0])
        return None


@pytest.fixture(scope="module", params=["memory", "sqlite", "postgres"])
def custom(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Custom]:
    root = tmp_path_factory.mktemp("custom")
    saver_db, store_db = root / "saver.sqlite", root / "store.sqlite"
    srv = Server(
        database_url(request.param, root, request),
        manifest=MANIFEST,
        env={"CUSTOM_SAVER_DB": str(saver_db), "CUSTOM_STORE_DB": str(store_db)},
        log_path=ARTIFACTS / f"server-custom-persistence-{request.param}.log",
    ).start()
    yield Custom(srv, saver_db, store_db)
    srv.stop()


@pytest.fixture
async def client(custom: Custom) -> AsyncIterator[LangGraphClient]:
    async with sdk(custom.server) as lg:
        yield lg


@pytest.fixture
async def http(custom: Custom) -> AsyncIterator[httpx.AsyncClient]:
    async with custom.server.http() as c:
        yield c


async def test_runs_checkpoint_to_the_custom_saver_only(
    custom: Custom, client: LangGraphClient
) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    out = await client.runs.wait(tid, "agent", input=_msg("hi"))
    assert isinstance(out, dict)
    assert [m["content"] for m in out["messages"]] == ["hi", "Hello there friend"]
    assert custom.checkpoints(tid) >= 2  # input and node step
    assert custom.saved("SELECT count(*) FROM writes WHERE thread_id=?", tid) > 0
    assert custom.own_checkpoints() in (0, None)
    state = await client.threads.get_state(tid)
    assert [m["content"] for m in state["values"]["messages"]] == ["hi", "Hello there friend"]
    history = await client.threads.get_history(tid)
    assert len(history) == custom.checkpoints(tid)
    # A second turn continues from the custom saver's state.
    out = await client.runs.wait(tid, "agent", input=_msg("again"))
    assert isinstance(out, dict) and len(out["messages"]) == 4


async def test_interrupt_and_resume_through_the_custom_saver(
    custom: Custom, client: LangGraphClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "hitl", input=_msg("go"))
    thread = await client.threads.get(tid)
    assert thread["status"] == "interrupted"
    state = await client.threads.get_state(tid)
    assert state["next"] == ["ask"]
    assert state["tasks"][0]["interrupts"][0]["value"] == {"question": "approve?", "n": 1}
    out = await client.runs.wait(tid, "hitl", command={"resume": "yes"})
    assert isinstance(out, dict)
    assert out["approved"] == "yes"
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_copy_storage_and_delete_use_the_saver_interface(
    custom: Custom, client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input=_msg("one"))
    await client.runs.wait(tid, "agent", input=_msg("two"))
    # AsyncSqliteSaver has no acopy_thread: distaff copies checkpoint by checkpoint.
    copy = await client.threads.copy(tid)
    cid = copy["thread_id"]
    assert custom.checkpoints(cid) == custom.checkpoints(tid)
    original, copied = await client.threads.get_state(tid), await client.threads.get_state(cid)
    assert copied["values"] == original["values"]
    assert copied["checkpoint"]["checkpoint_id"] == original["checkpoint"]["checkpoint_id"]
    assert len(await client.threads.get_history(cid)) == custom.checkpoints(tid)
    out = await client.runs.wait(cid, "agent", input=_msg("three"))
    assert isinstance(out, dict) and len(out["messages"]) == 6
    assert len((await client.threads.get_state(tid))["values"]["messages"]) == 4

    storage = (await http.get(f"/threads/{tid}/storage")).json()
    assert storage["checkpoints"]["count"] == custom.checkpoints(tid)
    assert storage["channel_values"]["by_channel"]["messages"]["bytes"] > 0
    assert storage["total_bytes"] > storage["checkpoints"]["bytes"]

    await client.threads.delete(tid)
    assert custom.checkpoints(tid) == 0
    assert custom.checkpoints(cid) > 0  # the copy is its own


async def test_what_the_saver_cannot_do_is_a_422_that_says_why(
    custom: Custom, client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input=_msg("hi"))
    before = custom.checkpoints(tid)
    run = await client.runs.create(tid, "hitl", input=_msg("go"))
    # Rollback needs adelete_for_runs, which AsyncSqliteSaver lacks.
    answer = await http.post(
        f"/threads/{tid}/runs",
        json={"assistant_id": "agent", "input": _msg("x"), "multitask_strategy": "rollback"},
    )
    assert answer.status_code == 422, answer.text
    assert "adelete_for_runs" in answer.json()["detail"]
    answer = await http.post(f"/threads/{tid}/runs/{run['run_id']}/cancel?action=rollback")
    assert answer.status_code == 422 and "adelete_for_runs" in answer.json()["detail"]
    await client.runs.join(tid, run["run_id"])  # not cancelled by the refused request
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    # Retention deletes single checkpoints: no public saver method does.
    answer = await http.put(f"/threads/{tid}/retention", json={"keep_last": 1})
    assert answer.status_code == 422 and "retention" in answer.json()["detail"]
    assert (await http.put(f"/threads/{tid}/retention", json={})).status_code == 200
    answer = await http.post(
        "/threads/prune", json={"thread_ids": [tid], "strategy": "keep_latest"}
    )
    assert answer.status_code == 422 and "aprune" in answer.json()["detail"]
    assert custom.checkpoints(tid) > before  # the hitl run's; nothing was deleted
    assert (await client.threads.get(tid))["thread_id"] == tid


async def test_the_store_is_the_custom_one(custom: Custom, client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    text = f"note-{uuid.uuid4().hex[:8]}"
    out = await client.runs.wait(tid, "remember", input=_msg(text))
    assert isinstance(out, dict) and out["messages"][-1]["content"].endswith("notes")
    rows = custom.stored("SELECT prefix, key FROM store WHERE key=?", text)
    assert rows == [("notes", text)]
    item = await client.store.get_item(["notes"], text)
    assert item is not None and item["value"] == {"text": text, "length": len(text)}
    await client.store.put_item(["api", "made"], "k1", {"from": "api"})
    assert custom.stored("SELECT prefix, key FROM store WHERE key='k1'") == [("api.made", "k1")]
    found = await client.store.search_items(["api"])
    assert [i["key"] for i in found["items"]] == ["k1"]
    await client.store.delete_item(["api", "made"], "k1")
    assert custom.stored("SELECT key FROM store WHERE key='k1'") == []


def test_a_deployment_setting_the_saver_cannot_honour_stops_the_start(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    srv = Server(
        "memory://",
        manifest=MANIFEST,
        env={
            "CUSTOM_SAVER_DB": str(tmp_path / "saver.sqlite"),
            "CUSTOM_STORE_DB": str(tmp_path / "store.sqlite"),
            "DISTAFF_CHECKPOINT_KEEP_LAST": "3",
        },
        log_path=log,
    )
    with pytest.raises(RuntimeError, match="exited"):
        srv.start()
    said = log.read_text()
    assert "checkpoint_keep_last" in said and "retention needs distaff's own" in said


def _shapes() -> dict[str, Any]:
    """Every shape `checkpointer.path` may name, each giving an `InMemorySaver`."""

    def sync_factory() -> InMemorySaver:
        return InMemorySaver()

    async def async_factory() -> InMemorySaver:
        return InMemorySaver()

    @contextlib.contextmanager
    def sync_manager() -> Iterator[InMemorySaver]:
        yield InMemorySaver()

    @contextlib.asynccontextmanager
    async def async_manager() -> AsyncIterator[InMemorySaver]:
        yield InMemorySaver()

    async def factory_of_a_manager() -> Any:
        return async_manager()

    return {
        "instance": InMemorySaver(),
        "class": InMemorySaver,  # its instances are context managers too: called, not entered
        "sync factory": sync_factory,
        "async factory": async_factory,
        "sync context manager": sync_manager(),
        "async context manager": async_manager(),
        "async factory of a context manager": factory_of_a_manager,
    }


@pytest.mark.parametrize("shape", list(_shapes()))
async def test_every_shape_the_manifest_may_name_gives_a_saver(shape: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        saver = await persistence._settle(_shapes()[shape], stack, "checkpointer.path")
        assert isinstance(saver, InMemorySaver), shape


@dataclasses.dataclass
class _Boxed:
    label: str


class _Xor:
    """A `CipherProtocol` (pycryptodome, for langgraph's AES one, is not installed)."""

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        return "xor", bytes(b ^ 0x5A for b in plaintext)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        return bytes(b ^ 0x5A for b in ciphertext)


def test_serde_allow_lists_keep_a_custom_savers_encryption() -> None:
    serde = SerdeSettings(allowed_msgpack_modules=None)
    cipher = _Xor()
    saver = InMemorySaver(serde=EncryptedSerializer(cipher))
    persistence._apply_serde(saver, serde)
    assert isinstance(saver.serde, EncryptedSerializer) and saver.serde.cipher is cipher
    typ, _ = saver.serde.dumps_typed({"a": 1})
    assert typ.endswith("+xor")  # still encrypted
    assert saver.serde.loads_typed(saver.serde.dumps_typed({"a": 1})) == {"a": 1}
    # Both now block a class outside the (empty) allow-list: it comes back as a dict.
    plain = InMemorySaver()
    persistence._apply_serde(plain, serde)
    for which in (plain.serde, saver.serde):
        assert which.loads_typed(which.dumps_typed(_Boxed("x"))) == {"label": "x"}
