"""Agent Chat UI itself, in headless Chromium, against a real distaff server.

The app is the Vite template of `create-agent-chat-app` (npm), installed with the packages its
source imports by `npm ci` in `tests/chatui/` (versions pinned by its package-lock.json), and
built once with `vite build` by `tests/chatui/build.mjs` into distaff's cache, in a folder
named for the lockfile and the build script (`chatui-<hash>`): later runs reuse it. It is
served from a loopback origin of its own and pointed at the server by its URL query
(`?apiUrl=&assistantId=`), as a person would open it.

The server runs `tests/chatui_app/` on SQLite: a graph whose fake model streams its reply a
token at a time, ties a generative-UI component to it, then stops at an Agent Inbox interrupt
that the page answers ("Accept").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Request, expect

from distaff.ui import build
from tests import test_js_clients
from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server, static_site

CHATUI = Path(__file__).parent / "chatui"
APP = Path(__file__).parent / "chatui_app"
NODE = shutil.which("node")
TIMEOUT_MS = 15_000
SHOTS = ARTIFACTS / "chatui"
CITY = "Lisbon"
REPLY = f"Sunny skies over {CITY} today with a light breeze from the sea and no rain"

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (scripts/test installs it)"),
    pytest.mark.skipif(
        not (CHATUI / "node_modules").is_dir(),
        reason="tests/chatui has no node_modules: run `npm ci` there (scripts/test does it)",
    ),
    pytest.mark.skipif(
        not build.is_installed(),
        reason="the UI bundler is not installed: scripts/test runs distaff build-ui --install-only",
    ),
]

browser = test_js_clients.browser

# Records, on every change of the page, how many words of the reply it shows (the longest
# prefix found), once for each new count: a reply that streams in shows counts between the
# first word and the last.
WATCH_REPLY = """
(() => {
  const words = __REPLY__.split(" ");
  window.__replyWords = [];
  const record = () => {
    const text = document.body ? document.body.innerText : "";
    let n = 0;
    for (let i = words.length; i > 0; i--) {
      if (text.includes(words.slice(0, i).join(" "))) { n = i; break; }
    }
    const seen = window.__replyWords;
    if (n > 0 && seen[seen.length - 1] !== n) seen.push(n);
  };
  new MutationObserver(record).observe(document, {
    subtree: true, childList: true, characterData: true,
  });
})();
""".replace("__REPLY__", json.dumps(REPLY))


def built_site() -> Path:
    """Agent Chat UI's static site, built once per lockfile and build script."""
    digest = hashlib.sha256()
    for name in ("package-lock.json", "build.mjs"):
        digest.update((CHATUI / name).read_bytes())
    site = build.cache_root() / f"chatui-{digest.hexdigest()[:16]}"
    if (site / "index.html").is_file():
        return site
    # Built beside the final folder and renamed into place: a run stopped mid-build, or two
    # at once, leave no half-built site behind.
    partial = site.with_name(f"{site.name}.partial-{os.getpid()}")
    result = subprocess.run(
        [str(NODE), str(CHATUI / "build.mjs"), str(partial)],
        cwd=CHATUI,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
    assert result.returncode == 0, f"vite build failed:\n{result.stdout}\n{result.stderr}"
    try:
        partial.rename(site)
    except OSError:  # built meanwhile by another run
        shutil.rmtree(partial, ignore_errors=True)
    return site


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The built app, served from a loopback origin other than the API's: the base URL."""
    with static_site(built_site()) as url:
        yield url


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The project copied (`distaff serve` builds its UI into it at start), on SQLite."""
    root = tmp_path_factory.mktemp("chatui")
    project = root / "app"
    shutil.copytree(APP, project, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__"))
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(
        database_url("sqlite", root, request),
        manifest=project / "langgraph.json",
        log_path=ARTIFACTS / "server-chatui.log",
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    # Wide enough for the template's thread-history side panel (shown from 1024 px).
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    await ctx.add_init_script(WATCH_REPLY)
    yield ctx
    await ctx.close()


#: What the page fails to load: the stylesheet the template's index.html links but does not
#: have (its styles are bundled from src/main.tsx).
MISSING = ["/src/styles.css"]


class Tab:
    """A page of the app and what it did: uncaught errors, console errors, responses over
    400, the requests it made to the server."""

    def __init__(self, page: Page, api: str) -> None:
        self.page = page
        self.errors: list[str] = []
        self.console_errors: list[str] = []
        self.failed: list[str] = []
        self.requests: list[Request] = []
        page.on("response", lambda r: self.failed.append(r.url) if r.status >= 400 else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda m: self.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("request", lambda r: self.requests.append(r) if r.url.startswith(api) else None)

    def calls(self, api: str) -> list[str]:
        return [f"{r.method} {r.url.removeprefix(api).split('?')[0]}" for r in self.requests]

    def stream_bodies(self) -> list[dict[str, Any]]:
        return [
            json.loads(r.post_data or "{}")
            for r in self.requests
            if r.method == "POST" and r.url.endswith("/runs/stream")
        ]


@pytest.fixture
async def tab(
    context: BrowserContext, server: Server, request: pytest.FixtureRequest
) -> AsyncIterator[Tab]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = await context.new_page()
    seen = Tab(page, server.url)
    yield seen
    try:
        await page.screenshot(path=str(SHOTS / f"{request.node.name}.png"))
    finally:
        await page.close()
    assert not seen.errors, f"uncaught errors in the page: {seen.errors}"
    assert [urlparse(u).path for u in seen.failed] == MISSING, seen.failed
    loads = "Failed to load resource"
    assert [e for e in seen.console_errors if not e.startswith(loads)] == []


def app_url(site: str, server: Server, **query: str) -> str:
    return f"{site}/?{urlencode({'apiUrl': server.url, 'assistantId': 'chat', **query})}"


THREAD: dict[str, str] = {}


async def test_a_chat_streams_renders_its_component_and_answers_the_interrupt(
    tab: Tab, site: str, server: Server
) -> None:
    page = tab.page
    await page.goto(app_url(site, server))
    await page.get_by_placeholder("Type your message...").fill(CITY)
    await page.get_by_role("button", name="Send").click()

    # The reply streams in, a few words at a time, then whole.
    await expect(page.get_by_text(REPLY)).to_be_visible()
    words: list[int] = await page.evaluate("window.__replyWords")
    total = len(REPLY.split(" "))
    assert words[-1] == total and words == sorted(words), words
    assert [n for n in words if 1 < n < total], f"the reply did not stream in: {words}"

    # The interrupt, as Agent Chat UI's Agent Inbox view shows it, and the component tied to
    # the reply, loaded from the server's origin into a shadow root.
    accept = page.get_by_role("button", name="Accept", exact=True)
    await expect(accept).to_be_visible()
    await expect(page.get_by_text("send_forecast", exact=True)).to_be_visible()
    weather = page.get_by_test_id("weather")
    await expect(weather).to_have_text(f"Forecast card: {CITY}, sunny")
    await expect(weather).to_have_css("color", "rgb(0, 102, 68)")
    await page.screenshot(path=str(SHOTS / "interrupt.png"))

    await accept.click()
    await expect(page.get_by_text("Forecast sent (accept)")).to_be_visible()
    await expect(accept).to_have_count(0)
    await expect(page.get_by_role("button", name="Send")).to_be_visible()

    thread_id = parse_qs(urlparse(page.url).query)["threadId"][0]
    THREAD["id"] = thread_id
    state = httpx.get(f"{server.url}/threads/{thread_id}/state").json()
    assert [(m["type"], m["content"]) for m in state["values"]["messages"]] == [
        ("human", CITY),
        ("ai", REPLY),
        ("ai", "Forecast sent (accept)"),
    ]
    assert state["next"] == []
    [component] = state["values"]["ui"]
    assert component["metadata"]["message_id"] == state["values"]["messages"][1]["id"]

    # What the page sent: the message with the stream modes its hooks asked for, then the
    # Agent Inbox answer as the resume value.
    first, resumed = tab.stream_bodies()
    assert first["input"]["messages"][-1]["content"] == CITY
    assert {"values", "messages-tuple", "custom"} <= set(first["stream_mode"])
    assert resumed["command"] == {"resume": [{"type": "accept", "args": None}]}
    calls = tab.calls(server.url)
    assert "GET /info" in calls and "POST /threads" in calls
    assert "POST /ui/chat" in calls
    assert any(c.startswith("GET /ui/chat/entrypoint.js") for c in calls)


async def test_a_thread_opened_again_comes_back_from_its_history(
    tab: Tab, site: str, server: Server
) -> None:
    if "id" not in THREAD:
        pytest.skip("the chat test did not get as far as its thread")
    page = tab.page
    await page.goto(app_url(site, server, threadId=THREAD["id"], chatHistoryOpen="true"))
    await expect(page.get_by_text(REPLY)).to_be_visible()
    await expect(page.get_by_text("Forecast sent (accept)")).to_be_visible()
    await expect(page.get_by_test_id("weather")).to_have_text(f"Forecast card: {CITY}, sunny")
    await expect(page.get_by_role("button", name="Accept", exact=True)).to_have_count(0)
    # The side panel lists the graph's threads by their first message.
    await expect(page.get_by_role("button", name=CITY, exact=True)).to_be_visible()
    assert "POST /threads/search" in tab.calls(server.url)
    assert not tab.stream_bodies()
