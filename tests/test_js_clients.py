"""The official JS clients against a real distaff server, on the v2 streaming protocol (thread
commands and event streams) and, for the legacy React hook, on v1 runs.stream.

- In Node 20: the JS SDK's `ThreadStream` (`client.threads.stream(...)`, @langchain/langgraph-sdk
  1.15.0) over SSE and over one WebSocket (the `ws` package), and its `StreamController` (the
  engine of @langchain/react's `useStream`). The drivers are `tests/js/*.mjs`; each prints one
  JSON object of what the client assembled and saw, which the tests assert on.
- In headless Chromium (Debian's, driven by Playwright): a small page on @langchain/react 1.1.0's
  `useStream` (which pins @langchain/langgraph-sdk 1.11.0), and one on the legacy `useStream` of
  `@langchain/langgraph-sdk/react`. The pages (`tests/js/pages/`) are bundled with esbuild when
  the module starts and served from a loopback origin, which `distaff serve`'s default CORS
  allows.

The packages are pinned by `tests/js/package-lock.json`; `scripts/test` runs `npm ci` there.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server, static_site

JS = Path(__file__).parent / "js"
NODE = shutil.which("node")
NO_NODE = "node is not installed (scripts/test installs it)"
NO_MODULES = "tests/js has no node_modules: run `npm ci` in tests/js (scripts/test does it)"

pytestmark = [
    pytest.mark.skipif(NODE is None, reason=NO_NODE),
    pytest.mark.skipif(not (JS / "node_modules").is_dir(), reason=NO_MODULES),
]

#: What the `typist` graph streams, a token (a word or a space) at a time.
TYPED_REPLY = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
#: Seconds between two of its tokens: about 2 s for the reply, time enough to reload mid-run.
TYPING_DELAY = "0.1"
HITL_PAYLOAD = {"question": "approve?", "n": 1}


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server for the module, on SQLite (what `distaff serve` keeps its data in by
    default), in place of conftest's server of each backend: the clients are under test here,
    the backends have their own tests."""
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(
        database_url("sqlite", tmp_path_factory.mktemp("js"), request),
        env={"DISTAFF_TEST_TYPING_DELAY": TYPING_DELAY},
        log_path=ARTIFACTS / "server-js-clients.log",
    ) as srv:
        yield srv


def node(script: str, *args: str, timeout: float = 40) -> dict[str, Any]:
    """Runs a driver in tests/js and returns the JSON it printed."""
    assert NODE is not None
    proc = subprocess.run(
        [NODE, str(JS / script), *args],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"node {script} {' '.join(args)} exited {proc.returncode}\n"
        f"stderr:\n{proc.stderr}\nstdout:\n{proc.stdout}"
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def lifecycle(events: list[dict[str, Any]], ns: str | None = "") -> list[str]:
    """The lifecycle events (and interrupt requests) of one namespace path, or of all."""
    out = []
    for e in events:
        if ns is not None and e["ns"] != ns:
            continue
        if e["method"] == "lifecycle":
            out.append(e["event"] if ns is not None else f"{e['ns']}:{e['event']}")
        elif e["method"] == "input.requested":
            out.append("input.requested")
    return out


def in_seq_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events as the server numbered them, each once. The client reports them as they
    arrive, which over SSE is not always in that order: when a new subscription widens the
    filter, the client opens a second stream whose replay brings earlier events the first one
    had filtered out."""
    seqs = [e["seq"] for e in events]
    assert len(seqs) == len(set(seqs)), f"an event seen twice: {seqs}"
    return sorted(events, key=lambda e: int(e["seq"]))


# --- ThreadStream (Node) -----------------------------------------------------------------------

TRANSPORTS = pytest.mark.parametrize("transport", ["sse", "websocket"])


def assert_transport(result: dict[str, Any], transport: str) -> None:
    assert result["errors"] == []
    # Over WebSocket the SDK carries the whole session (commands and events) on one socket.
    assert result["sockets"] == (1 if transport == "websocket" else 0)
    result["events"] = in_seq_order(result["events"])


@TRANSPORTS
def test_thread_stream_tokens(server: Server, transport: str) -> None:
    result = node("threadstream.mjs", server.url, "tokens", transport)
    assert_transport(result, transport)
    # The fake model's tokens, one delta each, assembled into one message.
    [message] = result["messages"]
    assert message["ns"] == ""
    assert message["deltas"] == ["Hello", " ", "there", " ", "friend"]
    assert message["text"] == "Hello there friend"
    assert result["output"] == [["human", "hi"], ["ai", "Hello there friend"]]
    events = result["events"]
    assert lifecycle(events) == ["running", "completed"]
    assert events[0] == {
        "seq": events[0]["seq"],
        "method": "lifecycle",
        "ns": "",
        "event": "running",
        "graph": "agent",
    }
    assert [e["event"] for e in events if e["method"] == "messages"] == [
        "message-start",
        "content-block-start",
        *["content-block-delta"] * 5,
        "content-block-finish",
        "message-finish",
    ]
    # The values with the finished message come after its message-finish, then the terminal.
    names = [e["method"] for e in events]
    assert names[-2:] == ["values", "lifecycle"]
    assert names.index("values") < names.index("messages")


@TRANSPORTS
def test_thread_stream_interrupt_and_respond(server: Server, transport: str) -> None:
    result = node("threadstream.mjs", server.url, "hitl", transport)
    assert_transport(result, transport)
    [interrupt] = result["interrupts"]
    assert interrupt["payload"] == HITL_PAYLOAD
    assert interrupt["namespace"] == []
    assert re.fullmatch(r"[0-9a-f]{32}", interrupt["interruptId"]), interrupt
    # The thread's status once no longer "busy" (see settledStatus in the driver).
    assert result["statusInterrupted"] == "interrupted"
    # Two runs on the one stream: the first stops at the interrupt, the resumed one completes.
    assert lifecycle(result["events"]) == [
        "running",
        "input.requested",
        "interrupted",
        "running",
        "completed",
    ]
    requested = [e for e in result["events"] if e["method"] == "input.requested"]
    assert [e["interrupt_id"] for e in requested] == [interrupt["interruptId"]]
    assert result["valuesBeforeInterrupt"][0] == [["human", "go"]]
    assert result["state"] == {
        "approved": "yes",
        "messages": [["human", "go"], ["ai", "human said yes"], ["ai", "done"]],
        "next": [],
    }
    assert result["status"] == "idle"
    # agent.getTree (over the socket, or POST /commands): the thread's latest run.
    assert result["tree"] == {
        "tree": {"namespace": [], "status": "completed", "graph_name": "hitl"}
    }


def test_thread_stream_interrupt_event_order(server: Server) -> None:
    """A run's root terminal is its last event: the reference sends `interrupted` right
    after the first input request and the paused values after it (contract 6.4; captures
    31, 60, 61); distaff sends the values first. No client depends on either."""
    events = in_seq_order(node("threadstream.mjs", server.url, "hitl", "sse")["events"])
    first_run = [e for e in events if e["ns"] == ""][: len(HITL_ORDER)]
    assert [e.get("event", e["method"]) for e in first_run] == HITL_ORDER


#: The first run of `hitl` on distaff's stream (values, lifecycle, input).
HITL_ORDER = ["running", "values", "input.requested", "values", "interrupted"]


@TRANSPORTS
def test_thread_stream_subgraphs(server: Server, transport: str) -> None:
    result = node("threadstream.mjs", server.url, "subgraphs", transport)
    assert_transport(result, transport)
    # The handles the client discovered from the namespaced lifecycle events.
    assert result["complete"], result["tree"]
    assert result["tree"] == [
        {
            "name": "mid",
            "graphName": "mid",
            "ns": "mid",
            "children": [{"name": "leaf", "graphName": "leaf", "ns": "mid/leaf", "children": []}],
        }
    ]
    assert lifecycle(result["events"], ns=None) == [
        ":running",
        "mid:started",
        "mid/leaf:started",
        "mid/leaf:completed",
        "mid:completed",
        ":completed",
    ]
    started = [
        e for e in result["events"] if e["method"] == "lifecycle" and e["event"] == "started"
    ]
    assert [e["graph"] for e in started] == ["mid", "leaf"]
    # A subscription to the prefix "mid" got the leaf's token stream, two levels down.
    messages = result["messages"]
    assert {m["ns"] for m in messages} == {"mid/leaf"}
    assert [m["event"] for m in messages] == [
        "message-start",
        "content-block-start",
        *["content-block-delta"] * 5,
        "content-block-finish",
        "message-finish",
    ]
    assert [m["text"] for m in messages if m["event"] == "content-block-delta"] == [
        "leaf",
        " ",
        "says",
        " ",
        "hi",
    ]
    assert messages[-2]["text"] == "leaf says hi"
    assert result["output"] == [
        ["human", "go"],
        ["ai", "root started"],
        ["ai", "mid prepared"],
        ["ai", "leaf says hi"],
    ]


def test_thread_stream_subgraph_started_before_its_first_values(server: Server) -> None:
    """A subgraph's `started` comes before anything of it (the reference sends it after the
    subgraph's first values: contract 6.5, capture 30)."""
    events = in_seq_order(node("threadstream.mjs", server.url, "subgraphs", "sse")["events"])
    for ns in ("mid", "mid/leaf"):
        mine = [e for e in events if e["ns"] == ns and e["method"] in ("values", "lifecycle")]
        assert [e.get("event", e["method"]) for e in mine[:2]] == ["started", "values"], ns


@TRANSPORTS
def test_thread_stream_failed_run(server: Server, transport: str) -> None:
    result = node("threadstream.mjs", server.url, "error", transport)
    assert_transport(result, transport)
    events = result["events"]
    assert lifecycle(events) == ["running", "failed"]
    [failed] = [e for e in events if e["method"] == "lifecycle" and e["event"] == "failed"]
    assert failed["error"] == "boom requested"
    assert failed["graph"] == "agent"
    assert not [e for e in events if e["method"] == "messages"]
    assert result["output"] == [["human", "boom"]]
    assert result["status"] == "error"


# --- StreamController (Node) -------------------------------------------------------------------


def growing_prefixes(texts: list[str], full: str) -> None:
    """Each text is a prefix of `full` and longer than the one before."""
    assert texts, "no text seen"
    for before, after in itertools.pairwise(texts):
        assert len(after) > len(before), texts
    for text in texts:
        assert full.startswith(text), (text, texts)


def test_stream_controller_interrupt_reload_respond(server: Server) -> None:
    result = node("controller.mjs", server.url, "hitl-reload")
    expected_interrupt = {"value": HITL_PAYLOAD, "namespace": []}
    # submit() resolves at the interrupt; the store shows it, with the run no longer loading.
    after_submit = result["afterSubmit"]
    [interrupt] = after_submit["interrupts"]
    assert {k: interrupt[k] for k in expected_interrupt} == expected_interrupt
    assert after_submit["isLoading"] is False
    assert after_submit["messages"] == [["human", "go"]]
    assert after_submit["error"] is None
    # The new controller (a reloaded page) finds the same interrupt in GET /state...
    after_hydrate = result["afterHydrate"]
    assert after_hydrate["threadId"] == result["threadId"]
    assert after_hydrate["interrupts"] == after_submit["interrupts"]
    assert after_hydrate["messages"] == [["human", "go"]]
    assert after_hydrate["isLoading"] is False
    # ...and in the event stream's replay, with the same id.
    assert result["replayed"] == [
        {"interruptId": interrupt["id"], "payload": HITL_PAYLOAD, "namespace": []}
    ]
    end = result["end"]
    assert end["messages"] == [["human", "go"], ["ai", "human said yes"], ["ai", "done"]]
    assert end["values"] == {"approved": "yes"}
    assert end["interrupts"] == []
    assert end["error"] is None


def test_stream_controller_tokens_and_reload_mid_run(server: Server) -> None:
    result = node("controller.mjs", server.url, "tokens-reload")
    # The first controller saw the reply grow token by token before the "reload".
    seen1 = result["seen1"]
    growing_prefixes(seen1, TYPED_REPLY)
    assert len(seen1) >= 3
    before = result["beforeReload"]
    assert before["isLoading"] is True
    assert before["messages"] == [["human", "type"], ["ai", seen1[-1]]]
    assert seen1[-1] != TYPED_REPLY, "the run had ended before the reload"
    # Disposing it did not cancel the run: the new controller joins it while still going...
    after = result["afterHydrate"]
    assert after["threadId"] == before["threadId"]
    assert after["isLoading"] is True
    # ...gets the text so far from the replay and the rest live, and ends with the full reply,
    # once.
    seen2 = result["seen2"]
    growing_prefixes(seen2, TYPED_REPLY)
    assert seen2[-1] == TYPED_REPLY
    assert len(seen2) > 2, f"the rest of the run was not seen live: {seen2}"
    assert result["end"]["isLoading"] is False
    assert result["end"]["messages"] == [["human", "type"], ["ai", TYPED_REPLY]]
    assert result["state"] == [["human", "type"], ["ai", TYPED_REPLY]]


def test_stream_controller_failed_run(server: Server) -> None:
    end = node("controller.mjs", server.url, "error")["end"]
    assert end["error"] == "boom requested"
    assert end["isLoading"] is False
    assert end["messages"] == [["human", "boom"]]


# --- useStream in a browser ---------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NO_CHROMIUM = "Chromium is not installed (Debian: apt-get install chromium; scripts/test does it)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
SHOTS = ARTIFACTS / "js-clients"


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bundled test pages, served from a loopback origin of their own: the base URL."""
    out = tmp_path_factory.mktemp("js-pages")
    node_build = subprocess.run(
        [str(NODE), str(JS / "build.mjs"), str(out)],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert node_build.returncode == 0, f"esbuild failed:\n{node_build.stderr}"
    with static_site(out) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(NO_CHROMIUM)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 900, "height": 700})
    tab = await context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await tab.screenshot(path=str(SHOTS / f"{request.node.name}.png"))
    finally:
        await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


async def open_page(tab: Page, base: str, kind: str, server: Server, graph: str, text: str) -> None:
    query = urlencode({"api": server.url, "assistant": graph, "text": text})
    await tab.goto(f"{base}/{kind}.html?{query}")


async def shown_messages(tab: Page) -> list[list[str]]:
    items = await tab.get_by_test_id("message").all()
    return [[str(await m.get_attribute("data-type")), str(await m.text_content())] for m in items]


async def seen_log(tab: Page) -> list[list[Any]]:
    """The page's log of [isLoading, text of the last AI message], one entry per change."""
    seen: list[list[Any]] = await tab.evaluate("window.__seen")
    return seen


def thread_of(tab: Page) -> str:
    [thread_id] = parse_qs(urlparse(tab.url).query)["thread"]
    return thread_id


async def state_of(server: Server, thread_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.get(f"/threads/{thread_id}/state")
        response.raise_for_status()
        values: dict[str, Any] = response.json()["values"]
        return values


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


#: True once the page's log has three different texts of the AI message, shown while loading.
GREW = "window.__seen.filter(([loading, text]) => loading && text).length >= 3"


def texts_while_loading(seen: list[list[Any]]) -> list[str]:
    return [text for loading, text in seen if loading and text is not None]


async def test_react_use_stream_tokens_and_reload_mid_run(
    server: Server, pages: str, page: Page
) -> None:
    await open_page(page, pages, "v2", server, "typist", "type")
    await page.get_by_test_id("send").click()
    ai = page.locator("[data-testid=message][data-type=ai]")
    # The text grows in the page while the run goes on: three different texts seen so far.
    await page.wait_for_function(GREW)
    first = texts_while_loading(await seen_log(page))
    growing_prefixes(first, TYPED_REPLY)
    assert first[-1] != TYPED_REPLY, "the run had ended before the reload"
    await expect(ai).to_have_text(re.compile("^" + re.escape(first[-1])))
    thread_id = thread_of(page)

    await page.reload()
    assert thread_of(page) == thread_id
    await expect(ai).to_have_text(TYPED_REPLY)
    await expect(page.get_by_test_id("page")).to_have_attribute("data-loading", "false")
    # The reloaded page knew the run was going and saw the rest of it arrive...
    second = texts_while_loading(await seen_log(page))
    growing_prefixes(second, TYPED_REPLY)
    assert second[0] != TYPED_REPLY, f"the reload joined after the run had ended: {second}"
    # ...and ends with the reply once, complete.
    assert await shown_messages(page) == [["human", "type"], ["ai", TYPED_REPLY]]
    state = await state_of(server, thread_id)
    assert [[m["type"], text_of(m["content"])] for m in state["messages"]] == [
        ["human", "type"],
        ["ai", TYPED_REPLY],
    ]


async def test_react_use_stream_interrupt_reload_and_respond(
    server: Server, pages: str, page: Page
) -> None:
    await open_page(page, pages, "v2", server, "hitl", "go")
    await page.get_by_test_id("send").click()
    value = page.get_by_test_id("interrupt-value")
    await expect(value).to_have_text(json.dumps(HITL_PAYLOAD, separators=(",", ":")))
    interrupt_id = await page.get_by_test_id("interrupt").get_attribute("data-id")
    assert interrupt_id and re.fullmatch(r"[0-9a-f]{32}", interrupt_id)
    await expect(page.get_by_test_id("page")).to_have_attribute("data-loading", "false")
    assert await shown_messages(page) == [["human", "go"]]

    # After a reload the interrupt is still there to answer, with the same id.
    await page.reload()
    await expect(value).to_have_text(json.dumps(HITL_PAYLOAD, separators=(",", ":")))
    await expect(page.get_by_test_id("interrupt")).to_have_attribute("data-id", interrupt_id)
    await page.get_by_test_id("approve").click()
    await expect(page.get_by_test_id("message")).to_have_count(3)
    await expect(page.get_by_test_id("interrupt")).to_have_count(0)
    await expect(page.get_by_test_id("page")).to_have_attribute("data-loading", "false")
    assert await shown_messages(page) == [["human", "go"], ["ai", "human said yes"], ["ai", "done"]]
    assert (await state_of(server, thread_of(page)))["approved"] == "yes"


async def test_legacy_use_stream_tokens_and_interrupt(
    server: Server, pages: str, page: Page
) -> None:
    """The legacy hook (v1 runs.stream, messages-tuple), which the studio still uses."""
    await open_page(page, pages, "v1", server, "typist", "type")
    await page.get_by_test_id("send").click()
    ai = page.locator("[data-testid=message][data-type=ai]")
    await expect(ai).to_have_text(TYPED_REPLY)
    await expect(page.get_by_test_id("page")).to_have_attribute("data-loading", "false")
    grown = texts_while_loading(await seen_log(page))
    growing_prefixes(grown, TYPED_REPLY)
    assert len(grown) >= 3, f"the text did not grow token by token: {grown}"
    assert await shown_messages(page) == [["human", "type"], ["ai", TYPED_REPLY]]

    await open_page(page, pages, "v1", server, "hitl", "go")
    await page.get_by_test_id("send").click()
    await expect(page.get_by_test_id("interrupt-value")).to_have_text(
        json.dumps(HITL_PAYLOAD, separators=(",", ":"))
    )
    await page.get_by_test_id("approve").click()
    await expect(page.get_by_test_id("message")).to_have_count(3)
    assert await shown_messages(page) == [["human", "go"], ["ai", "human said yes"], ["ai", "done"]]
    await expect(page.get_by_test_id("interrupt")).to_have_count(0)
    assert (await state_of(server, thread_of(page)))["approved"] == "yes"
