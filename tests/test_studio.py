"""distaff studio (`/studio`) in a real browser: Debian's Chromium, headless, driven by
Playwright, against a real distaff server. The page is built on the official JS client and its
React `useStream` hook, so these tests also show that client working against distaff.

What is checked is what a user sees: tokens appearing while the run is still going, an
interrupt answered from the form, a fork from an earlier checkpoint, a cancelled run, a reload
in the middle of a run that picks the stream up again. Screenshots go to
`test-artifacts/studio/<test>.png`.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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
    """A page of the studio, with the uncaught errors it raised."""

    def __init__(self, context: BrowserContext, page: Page, base: str, name: str) -> None:
        self.context = context
        self.page = page
        self.base = base
        self.name = name
        self.errors: list[str] = []
        self.shots: list[Path] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.set_default_timeout(TIMEOUT_MS)

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
    seen: list[dict[str, Any]] = await tab.page.evaluate("window.__seen")
    partial = [s for s in seen if s["text"] and s["text"] != final and final.startswith(s["text"])]
    # The answer grew on screen a token at a time while the run was still going.
    assert len(partial) >= 5, seen
    assert all(s["running"] for s in partial), seen
    assert seen[-1]["text"] == final

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


async def test_an_interrupt_is_resumed_from_the_form(tab: Tab, studio: Server) -> None:
    thread_id = await new_thread(tab, studio, "hitl")
    await send(tab, "please approve")
    form = tab.testid("interrupt-form")
    await expect(form).to_be_visible()
    await expect(tab.testid("interrupt-value")).to_contain_text("approve?")
    await expect(tab.testid("thread-status")).to_have_text("interrupted")
    await tab.shot("-form")
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
    assert runs[0]["kwargs"]["command"] == {"resume": "yes"}


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
    await expect(tab.testid("chat-error")).to_have_count(0)
    runs = await api(studio, "GET", f"/threads/{thread_id}/runs")
    assert runs[0]["status"] == "interrupted"
    await tab.testid("tab-events").click()
    assert await tab.testid("event").filter(has_text='"tick":39').count() == 0


async def test_a_reload_rejoins_the_live_stream(tab: Tab, studio: Server) -> None:
    thread_id = await new_thread(tab, studio, "slow")
    await send(tab, "12")  # 12 ticks, 3 s
    await tab.testid("tab-events").click()
    await expect(tab.testid("event").filter(has_text='"tick":2')).to_have_count(1)
    ticks_before = await tab.css("[data-testid=event][data-event=custom]").count()
    await tab.page.reload()
    assert ticks_before < 12
    # The page comes back on the same thread, finds the run still going and joins its stream
    # (resumable: Last-Event-ID -1 replays it from the start, then it goes on live).
    await expect(tab.testid("run-active")).to_be_visible()
    await tab.testid("tab-events").click()
    await expect(tab.testid("event").filter(has_text='"tick":11')).to_have_count(1)
    # Every tick once: the replayed ones and the live ones, no gap and no repeat.
    await expect(tab.css("[data-testid=event][data-event=custom]")).to_have_count(12)
    await expect(tab.last_ai()).to_contain_text("slow done")
    await expect(tab.testid("run-active")).to_have_count(0)
    runs = await api(studio, "GET", f"/threads/{thread_id}/runs")
    assert [r["status"] for r in runs] == ["success"]
    assert runs[0]["kwargs"]["resumable"] is True


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
