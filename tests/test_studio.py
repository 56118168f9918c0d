"""distaff studio (`/studio`) in a real browser: Debian's Chromium, headless, driven by
Playwright, against a real distaff server. The page is built on the official JS client; its chat
is `useStream` from `@langchain/react` (the v2-native hook over the SDK's `StreamController`,
which speaks the Agent Streaming Protocol v2), so these tests also show that hook working
against distaff.

What is checked is what a user sees: tokens appearing while the run is still going, an
interrupt answered from the form (also after a reload), a fork from an earlier checkpoint, a
cancelled run, a reload in the middle of a run that picks the stream up again without losing or
repeating anything, threads switched in one tab. Beside it, which requests the chat made: v2
commands and event streams, not v1 run streams. Screenshots go to
`test-artifacts/studio/<test>.png`.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server

pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[test]')")

from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Request,
    async_playwright,
    expect,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NO_CHROMIUM = "Chromium is not installed (Debian: apt-get install chromium; scripts/test does it)"

HERE = Path(__file__).parent
SHOTS = ARTIFACTS / "studio"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
AI_MESSAGE = "[data-testid=message][data-type=ai]"


@pytest.fixture(scope="module")
def studio(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with Server(
        database_url("sqlite", tmp_path_factory.mktemp("studio"), request),
        manifest=HERE / "studio_app" / "langgraph.json",
        env={"DISTAFF_TEST_SLOW_DELAY": "0.25", "DISTAFF_TEST_TYPING_DELAY": "0.12"},
        log_path=ARTIFACTS / "server-studio.log",
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(NO_CHROMIUM)
    # launch() gives the browser a fresh, throwaway user-data dir; each test then gets its own
    # context (its own localStorage and sessionStorage).
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        await browser.close()


class Tab:
    """A page of the studio, with the uncaught errors it raised and the API requests it made."""

    def __init__(self, context: BrowserContext, page: Page, base: str, name: str) -> None:
        self.context = context
        self.page = page
        self.base = base
        self.name = name
        self.errors: list[str] = []
        self.shots: list[Path] = []
        #: `(method, path, body)` of every request to the API (not the page's own files).
        self.requests: list[tuple[str, str, Any]] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", self._record)
        page.set_default_timeout(TIMEOUT_MS)

    def _record(self, request: Request) -> None:
        url = urlsplit(request.url)
        if f"{url.scheme}://{url.netloc}" != self.base or url.path.startswith("/studio"):
            return
        try:
            body = json.loads(request.post_data) if request.post_data else None
        except ValueError:
            body = request.post_data
        self.requests.append((request.method, url.path, body))

    def commands(self, thread_id: str) -> list[str]:
        """The v2 commands sent for the thread, in order (`run.start`, `input.respond`, ...)."""
        path = f"/threads/{thread_id}/commands"
        return [b["method"] for m, p, b in self.requests if m == "POST" and p == path]

    def event_streams(self, thread_id: str) -> list[list[str]]:
        """The channels of each v2 event stream (SSE) opened on the thread, in order."""
        path = f"/threads/{thread_id}/stream/events"
        return [b["channels"] for m, p, b in self.requests if m == "POST" and p == path]

    def v1_run_streams(self) -> list[str]:
        """Requests that stream or join a run the v1 way (`/runs/stream`, `/runs/{id}/stream`)."""
        return [p for _, p, _ in self.requests if re.search(r"/runs(/[^/]+)?/stream$", p)]

    async def open(self, path: str = "/") -> None:
        await self.page.goto(f"{self.base}/studio{path}")

    async def shot(self, suffix: str = "") -> Path:
        path = SHOTS / f"{self.name}{suffix}.png"
        await self.page.screenshot(path=str(path), full_page=False)
        self.shots.append(path)
        return path

    def testid(self, name: str) -> Locator:
        return self.page.get_by_test_id(name)

    def css(self, selector: str) -> Locator:
        return self.page.locator(selector)

    def last_ai(self) -> Locator:
        return self.page.locator(AI_MESSAGE).last


@pytest.fixture
async def tab(
    studio: Server, browser: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[Tab]:
    context = await browser.new_context(viewport={"width": 1366, "height": 800})
    page = await context.new_page()
    t = Tab(context, page, studio.url, request.node.name)
    yield t
    try:
        # How the page looked at the end: <test>.png, unless the test took that one itself.
        await t.shot("-end" if SHOTS / f"{t.name}.png" in t.shots else "")
    finally:
        await context.close()
    assert not t.errors, f"uncaught errors in the page: {t.errors}"


async def assistant_id(server: Server, graph_id: str) -> str:
    async with server.http() as http:
        found = (await http.post("/assistants/search", json={"graph_id": graph_id})).json()
    return str(found[0]["assistant_id"])


async def new_thread(tab: Tab, server: Server, graph_id: str) -> str:
    """Opens the assistant's page and starts a thread from its "New thread" button."""
    await tab.open(f"/assistants/{await assistant_id(server, graph_id)}")
    await tab.testid("new-thread").click()
    await expect(tab.testid("thread-page")).to_be_visible()
    thread_id = await tab.testid("thread-page").get_attribute("data-thread-id")
    assert thread_id
    return thread_id


async def send(tab: Tab, text: str) -> None:
    await tab.testid("chat-input").fill(text)
    await tab.testid("chat-send").click()


async def api(server: Server, method: str, path: str, **kwargs: Any) -> Any:
    async with server.http() as http:
        response = await http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


async def run_statuses(server: Server, thread_id: str, expected: list[str]) -> None:
    """Waits until the thread's runs (newest first) have these statuses: a cancel is asked
    for and answered at once, and takes effect a moment later."""
    statuses: list[str] = []
    for _ in range(int(TIMEOUT_MS / 100)):
        statuses = [r["status"] for r in await api(server, "GET", f"/threads/{thread_id}/runs")]
        if statuses == expected:
            return
        await asyncio.sleep(0.1)
    assert statuses == expected


# --- assistants --------------------------------------------------------------------------------


async def test_assistants_graph_schemas_and_a_new_config_version(tab: Tab, studio: Server) -> None:
    await tab.open("/")
    items = tab.testid("assistant-item")
    await expect(items).to_have_count(5)
    await tab.css("[data-testid=assistant-item][data-graph-id=parent]").click()
    # The graph, drawn from GET /assistants/{id}/graph: the subgraph is one node...
    nodes = tab.testid("graph-node")
    await expect(nodes).to_have_count(4)
    assert {await n.get_attribute("data-node-id") for n in await nodes.all()} == {
        "__start__",
        "outer",
        "child",
        "__end__",
    }
    await expect(tab.testid("graph-edge")).to_have_count(3)
    # ...and with xray its nodes show, boxed as a subgraph.
    await tab.testid("xray-toggle").check()
    await expect(tab.css("[data-testid=graph-node][data-node-id='child:inner']")).to_be_visible()
    await expect(tab.css("[data-testid=graph-cluster][data-cluster=child]")).to_be_visible()
    await tab.shot("-graph")

    await tab.testid("tab-schemas").click()
    await expect(tab.testid("schema-input_schema")).to_contain_text("messages")
    await expect(tab.testid("schema-state_schema")).to_contain_text("messages")

    # Config: saving makes version 2 (PATCH /assistants/{id}).
    await tab.testid("tab-config").click()
    await tab.testid("config-config").fill('{"configurable": {"temperature": 0.5}}')
    await tab.testid("config-metadata").fill('{"team": "studio"}')
    await tab.testid("config-save").click()
    await expect(tab.testid("config-saved")).to_contain_text("version 2")
    await expect(tab.testid("assistant-version")).to_have_text("version 2")
    aid = await assistant_id(studio, "parent")
    saved = await api(studio, "GET", f"/assistants/{aid}")
    assert saved["version"] == 2
    assert saved["config"]["configurable"]["temperature"] == 0.5
    assert saved["metadata"]["team"] == "studio"
    await tab.testid("tab-versions").click()
    await expect(tab.testid("version-row")).to_have_count(2)

    # A config that is not JSON cannot be saved.
    await tab.testid("tab-config").click()
    await tab.testid("config-config").fill("{nope")
    await expect(tab.testid("config-config-problems")).to_contain_text("not JSON")
    await expect(tab.testid("config-save")).to_be_disabled()


# --- chat --------------------------------------------------------------------------------------

WATCH_AI_TEXT = """() => {
  window.__seen = [];
  const record = () => {
    const texts = [...document.querySelectorAll(
      '[data-testid=message][data-type=ai] [data-testid=message-text]')].map(e => e.textContent);
    const last = texts[texts.length - 1];
    const running = !!document.querySelector('[data-testid=run-active]');
    const prev = window.__seen[window.__seen.length - 1];
    if (last !== undefined && (!prev || prev.text !== last))
      window.__seen.push({text: last, running});
  };
  new MutationObserver(record).observe(document.body,
    {subtree: true, childList: true, characterData: true});
}"""

#: What `useStream` follows on a thread (captures 61, 62, 65): its root stream's channels (the
#: SDK folds them into one SSE with those of the chat's event log) and its watcher's.
ROOT_PUMP = {"values", "checkpoints", "lifecycle", "input", "messages", "tools"}
WATCHER = ["lifecycle", "input"]


def assert_grew_token_by_token(seen: list[dict[str, Any]], final: str) -> None:
    """The answer grew on screen a token at a time while the run was still going, each text
    seen a prefix of the final one (nothing shown twice, nothing out of order)."""
    partial = [s for s in seen if s["text"] and s["text"] != final]
    assert all(final.startswith(s["text"]) for s in partial), seen
    assert len(partial) >= 5, seen
    assert all(s["running"] for s in partial), seen
    assert seen[-1]["text"] == final, seen


async def test_chat_streams_tokens_as_they_arrive_and_shows_tool_calls(
    tab: Tab, studio: Server
) -> None:
    thread_id = await new_thread(tab, studio, "chat")
    await expect(tab.testid("chat")).to_be_visible()
    await tab.page.evaluate(WATCH_AI_TEXT)
    await send(tab, "hello studio")
    final = "You said: hello studio. This answer streams one token at a time."
    await expect(tab.last_ai()).to_contain_text(final)
    await expect(tab.testid("run-active")).to_have_count(0)
    assert_grew_token_by_token(await tab.page.evaluate("window.__seen"), final)

    # A tool call, its result, then the streamed answer.
    await send(tab, "what is the weather?")
    await expect(tab.css("[data-testid=tool-call][data-tool-name=get_weather]")).to_be_visible()
    await expect(tab.testid("tool-result")).to_contain_text("sunny, 21 °C")
    await expect(tab.last_ai()).to_contain_text("In Paris it is sunny, 21 °C.")
    await expect(tab.testid("thread-status")).to_have_text("idle")
    await expect(tab.testid("checkpoint")).to_have_count(8)  # 3 for the first run, 5 for this one
    await tab.shot()  # the README's picture (docs/studio.png)
    await tab.testid("tab-runs").click()
    await expect(tab.css("[data-testid=run-row][data-status=success]")).to_have_count(2)
    state = await api(studio, "GET", f"/threads/{thread_id}/state")
    assert [m["type"] for m in state["values"]["messages"]] == [
        "human",
        "ai",
        "human",
        "ai",
        "tool",
        "ai",
    ]
    # The chat spoke v2: a run.start per message, the hook's event streams (the second message
    # used the ones the first opened), no v1 run stream.
    assert tab.commands(thread_id) == ["run.start", "run.start"]
    streams = tab.event_streams(thread_id)
    assert WATCHER in streams and any(ROOT_PUMP <= set(s) for s in streams), streams
    assert tab.v1_run_streams() == []
    await expect(tab.testid("message")).to_have_count(6)  # each message once, streamed or not
    start = next(b for m, p, b in tab.requests if p.endswith("/commands"))
    assert start["params"]["assistant_id"] == await assistant_id(studio, "chat")
    assert start["params"]["input"]["messages"][0]["content"] == "hello studio"


async def test_an_interrupt_is_resumed_from_the_form_also_after_a_reload(
    tab: Tab, studio: Server
) -> None:
    thread_id = await new_thread(tab, studio, "hitl")
    await send(tab, "please approve")
    form = tab.testid("interrupt-form")
    await expect(form).to_be_visible()
    await expect(tab.testid("interrupt-value")).to_contain_text("approve?")
    await expect(tab.testid("thread-status")).to_have_text("interrupted")
    await tab.shot("-form")
    # v1 lists a thread's interrupts by task; the interrupt's own id is what v2 answers.
    pending = (await api(studio, "GET", f"/threads/{thread_id}"))["interrupts"]
    [interrupt_id] = [i["id"] for task in pending.values() for i in task]
    # A reload: the hook finds the question in the thread's state and asks it again.
    await tab.page.reload()
    await expect(form).to_be_visible()
    await expect(tab.testid("interrupt-value")).to_contain_text("approve?")
    await expect(tab.testid("message-text").filter(has_text="please approve")).to_have_count(1)
    await tab.testid("resume-input").fill("yes")
    await tab.testid("resume-submit").click()
    await expect(tab.last_ai()).to_contain_text("done")
    await expect(tab.testid("message-text").filter(has_text="human said yes")).to_be_visible()
    await expect(form).to_have_count(0)
    await expect(tab.testid("thread-status")).to_have_text("idle")
    thread = await api(studio, "GET", f"/threads/{thread_id}")
    assert thread["status"] == "idle"
    assert thread["values"]["approved"] == "yes"
    runs = await api(studio, "GET", f"/threads/{thread_id}/runs")
    assert [r["status"] for r in runs] == ["success", "success"]
    # input.respond answers the interrupt by its id (v2 resumes by id, not with a bare value).
    assert runs[0]["kwargs"]["command"] == {"resume": {interrupt_id: "yes"}}
    assert tab.commands(thread_id) == ["run.start", "input.respond"]
    respond = [b for m, p, b in tab.requests if p.endswith("/commands")][-1]["params"]
    assert respond == {"namespace": [], "interrupt_id": interrupt_id, "response": "yes"}
    assert tab.v1_run_streams() == []


async def test_a_reload_in_the_middle_of_an_answer_shows_every_token_once(
    tab: Tab, studio: Server
) -> None:
    thread_id = await new_thread(tab, studio, "chat")
    await send(tab, "reload me")
    final = "You said: reload me. This answer streams one token at a time."
    await expect(tab.last_ai()).to_contain_text("You said: reload")
    await tab.page.reload()
    assert tab.commands(thread_id) == ["run.start"]
    # Back on the thread mid-answer: the text so far comes back (the stream replays the run
    # from its start) and goes on growing, live.
    await tab.page.evaluate(WATCH_AI_TEXT)
    await expect(tab.testid("run-active")).to_be_visible()
    await expect(tab.last_ai().get_by_test_id("message-text")).to_have_text(final)
    await expect(tab.testid("run-active")).to_have_count(0)
    seen: list[dict[str, Any]] = await tab.page.evaluate("window.__seen")
    assert all(final.startswith(s["text"]) for s in seen), seen
    assert any(s["running"] and s["text"] != final for s in seen), seen
    # One question, one answer: neither repeated nor lost.
    await expect(tab.css(AI_MESSAGE)).to_have_count(1)
    await expect(tab.testid("message")).to_have_count(2)
    state = await api(studio, "GET", f"/threads/{thread_id}/state")
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]
    # The reloaded page started nothing: it read the state and followed the run's streams.
    assert tab.commands(thread_id) == ["run.start"]
    assert tab.v1_run_streams() == []


async def test_switching_threads_keeps_each_chat_to_its_own_thread(
    tab: Tab, studio: Server
) -> None:
    first = await new_thread(tab, studio, "parent")
    await send(tab, "first thread")
    await expect(tab.testid("message-text").filter(has_text="from inner")).to_be_visible()
    # A second thread, reached inside the app (the same page: each thread page its own hook).
    await tab.testid("nav-assistants").click()
    await tab.css("[data-testid=assistant-item][data-graph-id=parent]").click()
    await tab.testid("new-thread").click()
    await expect(tab.testid("thread-page")).not_to_have_attribute("data-thread-id", first)
    second = await tab.testid("thread-page").get_attribute("data-thread-id")
    assert second
    await expect(tab.testid("chat")).to_be_visible()
    await expect(tab.testid("message")).to_have_count(0)
    await send(tab, "second thread")
    await expect(tab.testid("message-text").filter(has_text="from inner")).to_be_visible()
    # Back to the first one from the thread list, and on with it there.
    await tab.testid("nav-threads").click()
    await tab.css(f"[data-testid=thread-row][data-thread-id='{first}'] a").click()
    await expect(tab.testid("thread-page")).to_have_attribute("data-thread-id", first)
    await expect(tab.testid("message-text").filter(has_text="first thread")).to_be_visible()
    await expect(tab.testid("message-text").filter(has_text="second thread")).to_have_count(0)
    await send(tab, "first again")
    await expect(tab.testid("message")).to_have_count(6)
    await expect(tab.testid("run-active")).to_have_count(0)
    await expect(tab.testid("message-text").filter(has_text="second thread")).to_have_count(0)
    texts = {}
    for tid in (first, second):
        state = await api(studio, "GET", f"/threads/{tid}/state")
        texts[tid] = [m["content"] for m in state["values"]["messages"]]
    assert texts[first][::3] == ["first thread", "first again"], texts
    assert texts[second][::3] == ["second thread"], texts
    assert tab.commands(first) == ["run.start", "run.start"]
    assert tab.commands(second) == ["run.start"]


# --- time travel -------------------------------------------------------------------------------


async def test_input_editor_then_fork_from_an_earlier_checkpoint_and_edit_state(
    tab: Tab, studio: Server
) -> None:
    thread_id = await new_thread(tab, studio, "counter")
    # No messages channel: the input editor, checked against the input schema.
    editor = tab.testid("run-input")
    await expect(editor).to_be_visible()
    await editor.fill('{"count": "three"}')
    await expect(tab.testid("run-input-problems")).to_contain_text("expected integer")
    await expect(tab.testid("run-submit")).to_be_disabled()
    await editor.fill('{"count": 3}')
    await tab.testid("run-submit").click()
    await expect(tab.testid("run-values")).to_contain_text('"count": 6')
    # The stream's events, live, by mode.
    events = tab.testid("event")
    await expect(events.filter(has_text='"doubling":3')).to_have_count(1)
    for mode in ("metadata", "values", "updates", "custom"):
        await expect(tab.testid(f"events-mode-{mode}")).to_be_visible()

    history = await api(studio, "POST", f"/threads/{thread_id}/history", json={"limit": 10})
    assert [h["metadata"]["step"] for h in history] == [2, 1, 0, -1]
    step0 = history[2]["checkpoint"]["checkpoint_id"]
    original_child = history[1]["checkpoint"]["checkpoint_id"]
    checkpoints = tab.testid("checkpoint")
    await expect(checkpoints).to_have_count(4)

    # Pick step 0 (count 3, about to double), see the state there, fork from it.
    await tab.css(f"[data-testid=checkpoint][data-checkpoint-id='{step0}']").click()
    await expect(tab.testid("checkpoint-values")).to_contain_text('"count": 3')
    await tab.testid("fork-open").click()
    await tab.testid("fork-submit").click()
    # langgraph copies the chosen checkpoint (source "fork"), then runs on: three new ones.
    await expect(checkpoints).to_have_count(7)
    children = tab.css(f"[data-testid=checkpoint][data-parent-id='{step0}']")
    await expect(children).to_have_count(2)
    await expect(tab.css("[data-testid=checkpoint][data-lane='1']")).to_have_count(2)
    await tab.shot("-fork")
    history = await api(studio, "POST", f"/threads/{thread_id}/history", json={"limit": 10})
    forked = [
        h
        for h in history
        if h["parent_checkpoint"]
        and h["parent_checkpoint"]["checkpoint_id"] == step0
        and h["checkpoint"]["checkpoint_id"] != original_child
    ]
    assert len(forked) == 1
    # The newest checkpoint descends from the fork, not from the original line.
    parents = {h["checkpoint"]["checkpoint_id"]: h["parent_checkpoint"] for h in history}
    line, cursor = [], history[0]["checkpoint"]["checkpoint_id"]
    while cursor:
        line.append(cursor)
        cursor = (parents.get(cursor) or {}).get("checkpoint_id")
    assert forked[0]["checkpoint"]["checkpoint_id"] in line and original_child not in line
    assert history[0]["values"]["count"] == 6  # the new branch ran from count 3 again
    runs = await api(studio, "GET", f"/threads/{thread_id}/runs")
    assert runs[0]["kwargs"]["checkpoint"]["checkpoint_id"] == step0

    # Edit the state (update_state): a new checkpoint with the new values.
    await tab.testid("tab-state").click()
    await tab.testid("edit-state").click()
    await tab.testid("state-editor-values").fill('{"count": 100}')
    await tab.testid("state-editor-save").click()
    await expect(tab.testid("state-values")).to_contain_text('"count": 100')
    state = await api(studio, "GET", f"/threads/{thread_id}/state")
    assert state["values"]["count"] == 100
    assert state["metadata"]["source"] == "update"


async def test_a_fork_in_the_chat_shows_its_branch(tab: Tab, studio: Server) -> None:
    thread_id = await new_thread(tab, studio, "parent")
    for text in ("one", "two", "three"):
        await send(tab, text)
        await expect(tab.testid("message-text").filter(has_text=text)).to_be_visible()
        await expect(tab.testid("run-active")).to_have_count(0)
    await expect(tab.testid("message")).to_have_count(9)
    # Where the first run ended: three messages, nothing next.
    history = await api(studio, "POST", f"/threads/{thread_id}/history", json={"limit": 20})
    [end_of_one] = [
        h["checkpoint"]["checkpoint_id"]
        for h in history
        if not h["next"] and len(h["values"]["messages"]) == 3
    ]
    await tab.css(f"[data-testid=checkpoint][data-checkpoint-id='{end_of_one}']").click()
    await tab.testid("fork-open").click()
    await tab.testid("fork-input").fill('{"messages": [{"type": "human", "content": "branch"}]}')
    await tab.testid("fork-submit").click()
    # The branch, as the thread now has it: "two", "three" and their answers are on the other
    # line. (It ends at an earlier step than the thread had reached, which the hook takes for a
    # replay of old snapshots; the page loads the thread again when the fork's run ends.)
    await expect(tab.testid("message-text").filter(has_text="branch")).to_be_visible()
    await expect(tab.testid("run-active")).to_have_count(0)
    await expect(tab.testid("message-text").filter(has_text="two")).to_have_count(0)
    await expect(tab.testid("message-text").filter(has_text="three")).to_have_count(0)
    await expect(tab.testid("message")).to_have_count(6)
    state = await api(studio, "GET", f"/threads/{thread_id}/state")
    assert [m["content"] for m in state["values"]["messages"]][::3] == ["one", "branch"]
    assert tab.commands(thread_id) == ["run.start"] * 4
    fork = [b for m, p, b in tab.requests if p.endswith("/commands")][-1]["params"]
    assert fork["config"]["configurable"]["checkpoint_id"] == end_of_one


# --- runs --------------------------------------------------------------------------------------


async def test_cancel_a_running_run(tab: Tab, studio: Server) -> None:
    thread_id = await new_thread(tab, studio, "slow")
    await send(tab, "40")  # 40 ticks, 10 s
    await tab.testid("tab-events").click()
    await expect(tab.testid("event").filter(has_text='"tick":1')).to_have_count(1)
    await tab.testid("tab-runs").click()
    row = tab.testid("run-row").first
    await expect(row).to_have_attribute("data-status", "running")
    await row.get_by_test_id("run-cancel").click()
    await expect(row).to_have_attribute("data-status", "interrupted")
    await expect(tab.testid("run-active")).to_have_count(0)
    await expect(tab.testid("chat-send")).to_be_visible()
    await expect(tab.testid("chat-cancelled")).to_be_visible()
    await expect(tab.testid("chat-error")).to_have_count(0)
    runs = await api(studio, "GET", f"/threads/{thread_id}/runs")
    assert runs[0]["status"] == "interrupted"
    await tab.testid("tab-events").click()
    assert await tab.testid("event").filter(has_text='"tick":39').count() == 0


async def test_the_chat_stop_button_cancels_the_run_also_after_a_reload(
    tab: Tab, studio: Server
) -> None:
    thread_id = await new_thread(tab, studio, "slow")
    cancels = re.compile(rf"^/threads/{thread_id}/runs/([^/]+)/cancel$")

    def cancelled() -> list[str]:
        return [m[1] for _, p, _ in tab.requests if (m := cancels.match(p))]

    # A run the hook started: its stop() cancels it.
    await send(tab, "40")  # 40 ticks, 10 s
    await tab.testid("tab-events").click()
    await expect(tab.testid("event").filter(has_text='"tick":1')).to_have_count(1)
    await tab.testid("chat-stop").click()
    await expect(tab.testid("chat-send")).to_be_visible()
    await expect(tab.testid("chat-cancelled")).to_be_visible()
    await run_statuses(studio, thread_id, ["interrupted"])
    runs = await api(studio, "GET", f"/threads/{thread_id}/runs")
    assert cancelled() == [runs[0]["run_id"]]
    # A run followed after a reload: the hook was not the one to start it, and the page cancels
    # it itself.
    await send(tab, "40")
    await expect(tab.testid("event").filter(has_text='"tick":1')).to_have_count(1)
    await tab.page.reload()
    await expect(tab.testid("run-active")).to_be_visible()
    await tab.testid("chat-stop").click()
    await expect(tab.testid("run-active")).to_have_count(0)
    await expect(tab.testid("chat-cancelled")).to_be_visible()
    await run_statuses(studio, thread_id, ["interrupted", "interrupted"])
    runs = await api(studio, "GET", f"/threads/{thread_id}/runs")
    assert cancelled() == [runs[1]["run_id"], runs[0]["run_id"]]


async def test_a_run_started_elsewhere_is_followed_from_the_runs_panel(
    tab: Tab, studio: Server
) -> None:
    thread_id = await new_thread(tab, studio, "slow")
    await expect(tab.testid("chat")).to_be_visible()
    # Another client starts a run on the thread (a v2 run.start of its own).
    params = {"assistant_id": "slow", "input": {"messages": [{"role": "user", "content": "8"}]}}
    command = {"id": 1, "method": "run.start", "params": params}
    started = await api(studio, "POST", f"/threads/{thread_id}/commands", json=command)
    run_id = started["result"]["run_id"]
    await tab.testid("tab-runs").click()
    row = tab.css(f"[data-testid=run-row][data-run-id='{run_id}']")
    await expect(row).to_have_attribute("data-status", "running")
    await row.get_by_test_id("run-join").click()
    await expect(tab.testid("run-active")).to_be_visible()
    await expect(tab.last_ai()).to_contain_text("slow done")
    await expect(tab.testid("run-active")).to_have_count(0)
    await expect(tab.testid("message-text").filter(has_text="8")).to_have_count(1)
    await tab.testid("tab-events").click()
    await expect(tab.css("[data-testid=event][data-event=custom]")).to_have_count(8)
    assert tab.commands(thread_id) == []


async def test_a_reload_rejoins_the_live_stream(tab: Tab, studio: Server) -> None:
    thread_id = await new_thread(tab, studio, "slow")
    await send(tab, "12")  # 12 ticks, 3 s
    await tab.testid("tab-events").click()
    await expect(tab.testid("event").filter(has_text='"tick":2')).to_have_count(1)
    ticks_before = await tab.css("[data-testid=event][data-event=custom]").count()
    before = len(tab.requests)
    await tab.page.reload()
    assert ticks_before < 12
    # The page comes back on the same thread, reads its state, finds the run still going and
    # follows the thread's event stream, which replays the run from its start and goes on live.
    await expect(tab.testid("run-active")).to_be_visible()
    await tab.testid("tab-events").click()
    await expect(tab.testid("event").filter(has_text='"tick":11')).to_have_count(1)
    # Every tick once: the replayed ones and the live ones, no gap and no repeat.
    await expect(tab.css("[data-testid=event][data-event=custom]")).to_have_count(12)
    await expect(tab.last_ai()).to_contain_text("slow done")
    await expect(tab.testid("run-active")).to_have_count(0)
    runs = await api(studio, "GET", f"/threads/{thread_id}/runs")
    assert [r["status"] for r in runs] == ["success"]
    after = [(m, p) for m, p, _ in tab.requests[before:]]
    assert ("GET", f"/threads/{thread_id}/state") in after
    assert ("POST", f"/threads/{thread_id}/stream/events") in after
    assert tab.commands(thread_id) == ["run.start"]
    assert tab.v1_run_streams() == []


# --- threads -----------------------------------------------------------------------------------


async def test_threads_are_listed_searched_and_deleted(tab: Tab, studio: Server) -> None:
    suite = uuid.uuid4().hex[:8]
    ids = [
        (await api(studio, "POST", "/threads", json={"metadata": {"suite": suite, "n": n}}))[
            "thread_id"
        ]
        for n in range(3)
    ]
    await tab.open("/threads")
    await expect(tab.testid("thread-row").first).to_be_visible()
    await tab.testid("thread-filter-metadata").fill(f'{{"suite": "{suite}"}}')
    await tab.testid("thread-search").click()
    rows = tab.testid("thread-row")
    await expect(rows).to_have_count(3)
    await tab.testid("thread-filter-status").select_option("busy")
    await tab.testid("thread-search").click()
    await expect(rows).to_have_count(0)
    await tab.testid("thread-filter-status").select_option("idle")
    await tab.testid("thread-search").click()
    await expect(rows).to_have_count(3)
    victim = tab.css(f"[data-testid=thread-row][data-thread-id='{ids[0]}']")
    await victim.get_by_test_id("thread-delete").click()
    await victim.get_by_test_id("thread-delete-confirm").click()
    await expect(rows).to_have_count(2)
    async with studio.http() as http:
        assert (await http.get(f"/threads/{ids[0]}")).status_code == 404
        assert (await http.get(f"/threads/{ids[1]}")).status_code == 200
    # Opening a thread from the list.
    await tab.css(f"[data-testid=thread-row][data-thread-id='{ids[1]}'] a").click()
    await expect(tab.testid("thread-page")).to_have_attribute("data-thread-id", ids[1])


async def test_fits_a_phone(studio: Server, browser: Browser) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        page = await context.new_page()
        tab = Tab(context, page, studio.url, "test_fits_a_phone")
        await new_thread(tab, studio, "chat")
        await send(tab, "hi from a phone")
        await expect(tab.last_ai()).to_contain_text("streams one token at a time")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        await tab.shot()
        await tab.open("/")
        await expect(tab.testid("graph-node").first).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await tab.shot("-assistants")
        assert not tab.errors
    finally:
        await context.close()


# --- auth --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with Server(
        database_url("sqlite", tmp_path_factory.mktemp("studio-auth"), request),
        manifest=HERE / "auth_app" / "langgraph.json",
        log_path=ARTIFACTS / "server-studio-auth.log",
    ) as srv:
        yield srv


WHOAMI = "[data-testid=assistant-item][data-graph-id=whoami]"


async def test_with_auth_the_token_is_asked_for_and_sent(secured: Server, browser: Browser) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        tab = Tab(context, page, secured.url, "test_with_auth_the_token_is_asked_for_and_sent")
        authorizations: list[str | None] = []
        page.on(
            "request",
            lambda r: (
                authorizations.append(r.headers.get("authorization"))
                if "/assistants/search" in r.url
                else None
            ),
        )
        v2_auth: list[str | None] = []
        page.on(
            "request",
            lambda r: (
                v2_auth.append(r.headers.get("authorization"))
                if re.search(r"/threads/[^/]+/(commands|stream/events)$", r.url)
                else None
            ),
        )
        await tab.open("/")
        await expect(tab.testid("auth-banner")).to_be_visible()
        await tab.shot("-asked")
        await tab.testid("token-input").fill("alice-token")
        await tab.testid("token-save").click()
        await expect(tab.testid("auth-banner")).to_have_count(0)
        await expect(tab.css(WHOAMI)).to_be_visible()
        assert authorizations[0] is None
        assert authorizations[-1] == "Bearer alice-token"
        # Kept in localStorage: a reload needs no new entry.
        await page.reload()
        await expect(tab.css(WHOAMI)).to_be_visible()
        await expect(tab.testid("auth-banner")).to_have_count(0)
        # A thread made in the studio belongs to alice.
        await tab.css(WHOAMI).click()
        await tab.testid("new-thread").click()
        thread_id = await tab.testid("thread-page").get_attribute("data-thread-id")
        async with httpx.AsyncClient(base_url=secured.url) as http:
            alice = await http.get(
                f"/threads/{thread_id}", headers={"Authorization": "Bearer alice-token"}
            )
            bob = await http.get(
                f"/threads/{thread_id}", headers={"Authorization": "Bearer bob-token"}
            )
        assert alice.json()["metadata"]["owner"] == "alice"
        assert bob.status_code == 404
        # The chat's v2 commands and event streams carry the token too: the run is alice's.
        await send(tab, "who am I?")
        await expect(tab.last_ai()).to_contain_text("'config_user', 'alice'")
        assert tab.commands(thread_id or "") == ["run.start"]
        assert len(v2_auth) >= 3 and set(v2_auth) == {"Bearer alice-token"}, v2_auth
        await tab.shot()
        assert not tab.errors
    finally:
        await context.close()


def test_the_built_studio_is_served_with_the_right_caching(studio: Server) -> None:
    index = httpx.get(f"{studio.url}/studio/")
    assert index.status_code == 200
    assert httpx.head(f"{studio.url}/studio/").status_code == 200
    assert httpx.get(f"{studio.url}/studio", follow_redirects=True).text == index.text
    assert index.headers["cache-control"] == "no-cache"
    assets = re.findall(r'/studio/(assets/[^"]+)', index.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        response = httpx.get(f"{studio.url}/studio/{asset}")
        assert response.status_code == 200
        assert "immutable" in response.headers["cache-control"]
    # Any other path under /studio/ is the app's own route: index.html again.
    deep = httpx.get(f"{studio.url}/studio/threads/whatever")
    assert deep.status_code == 200 and deep.text == index.text
    assert httpx.get(f"{studio.url}/studio/assets/nope.js").status_code == 404


async def test_the_api_docs_page_renders_with_no_internet(studio: Server, browser: Browser) -> None:
    # Swagger UI's assets come from this server: with every other host unreachable, as on an
    # offline machine, the page still lists the operations.
    context = await browser.new_context()
    elsewhere: list[str] = []

    async def only_loopback(route: Any) -> None:
        if route.request.url.startswith(studio.url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_loopback)
    page = await context.new_page()
    try:
        await page.goto(f"{studio.url}/docs")
        operations = page.locator(".opblock")
        await expect(operations.first).to_be_visible(timeout=TIMEOUT_MS)
        assert await operations.count() > 20
        await expect(page.get_by_text("/threads/{thread_id}/runs/wait").first).to_be_visible()
        await page.screenshot(path=str(SHOTS / "api-docs.png"))
    finally:
        await context.close()
    assert elsewhere == []
