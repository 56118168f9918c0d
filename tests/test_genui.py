"""Generative UI: the `ui` key of langgraph.json, bundled by distaff's esbuild bundler
(`distaff build-ui`, `distaff dev`'s watcher), `POST /ui/{graph_id}` and the bundles under
`GET /ui/...`, against real servers; and in headless Chromium, a page on another origin than
the API that shows the graph's components with `LoadExternalComponent`, as Agent Chat UI does.

The project is `tests/genui_app/` (copied, since building writes into it). The bundler's
esbuild is installed by `scripts/test` (`distaff build-ui --install-only`), the page's packages
by `npm ci` in `tests/js`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import Browser, expect

from distaff.ui import build
from tests import test_js_clients
from tests.conftest import ARTIFACTS
from tests.servers import Server, free_port, send_head
from tests.test_js_clients import JS

# The pages of tests/js bundled once and served from a loopback origin of their own, and one
# Chromium: the fixtures of the JS client tests.
pages = test_js_clients.pages
browser = test_js_clients.browser

APP = Path(__file__).parent / "genui_app"
AUTH = Path(__file__).parent / "auth_app" / "auth.py"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (scripts/test installs it)"),
    pytest.mark.skipif(
        not build.is_installed(),
        reason="the UI bundler is not installed: scripts/test runs distaff build-ui --install-only",
    ),
]

SCRATCH = "export default { hello: () => <p>{TEXT}</p> };\n"
BROKEN = "export default { hello: () => <p>oops</p>;\n"
HEX16 = "[0-9a-f]{16}"


def distaff(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "distaff", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def copy_app(dest: Path) -> Path:
    shutil.copytree(APP, dest, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__"))
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test project, built once with `distaff build-ui`."""
    root = copy_app(tmp_path_factory.mktemp("genui") / "app")
    built = distaff("build-ui", str(root / "langgraph.json"))
    assert built.returncode == 0, built.stderr
    assert "built genui, scratch" in built.stdout
    return root


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(
        "memory://", manifest=project / "langgraph.json", log_path=ARTIFACTS / "server-genui.log"
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Custom auth and a `public_url`, on a project nothing built yet: `distaff serve` builds
    it at start."""
    root = copy_app(tmp_path_factory.mktemp("genui-auth") / "app")
    manifest = json.loads((root / "langgraph.json").read_text())
    manifest["auth"] = {"path": f"{AUTH}:auth"}
    (root / "langgraph.json").write_text(json.dumps(manifest))
    with Server(
        "memory://",
        manifest=root / "langgraph.json",
        env={"DISTAFF_PUBLIC_URL": "https://api.example.com/agents/"},
        log_path=ARTIFACTS / "server-genui-auth.log",
    ) as srv:
        yield srv


def digest(project: Path, graph: str, name: str) -> str:
    path = project / ".langgraph_api" / "ui" / "public" / graph / name
    return hashlib.sha256(path.read_bytes()).hexdigest()


def post_ui(srv: Server, graph: str, body: Any, **kwargs: Any) -> httpx.Response:
    headers = {"accept": "text/html", **kwargs.pop("headers", {})}
    return httpx.post(f"{srv.url}/ui/{graph}", json=body, headers=headers, **kwargs)


# --- the bundle ----------------------------------------------------------------------------------


def test_build_ui_writes_the_reference_layout(project: Path) -> None:
    out = project / ".langgraph_api" / "ui"
    assert json.loads((out / "schemas.json").read_text()) == {
        "genui": {"assets": ["entrypoint.js", "entrypoint.css"], "name": "genui"},
        "scratch": {"assets": ["entrypoint.js"], "name": "scratch"},
    }
    js = (out / "public" / "genui" / "entrypoint.js").read_text()
    assert js.startswith("var __LGUI_genui=")
    # React is the host page's, asked for at load time; nothing of the machine leaks in.
    assert 'Symbol.for("LGUI_REQUIRE")' in js and len(js) < 10_000
    assert str(project) not in js and str(Path.home()) not in js
    css = (out / "public" / "genui" / "entrypoint.css").read_text()
    assert ".weather{" in css
    # Not for version control.
    assert (out / ".gitignore").read_text().endswith("*\n")


def test_build_ui_without_node_names_what_to_install(tmp_path: Path, project: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = distaff("build-ui", str(project / "langgraph.json"), env={"PATH": str(empty)})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "needs Node.js 18 or later and npm" in line and "apt-get install nodejs npm" in line


def test_dev_without_node_serves_without_ui(
    tmp_path: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from distaff.cli import _watch_ui
    from distaff.manifest import load_manifest

    monkeypatch.setenv("PATH", str(tmp_path))
    assert _watch_ui(load_manifest(project / "langgraph.json").ui) is None
    assert "needs Node.js" in capsys.readouterr().err


def test_ui_paths_outside_the_project_are_refused(tmp_path: Path) -> None:
    (tmp_path / "langgraph.json").write_text(
        json.dumps({"graphs": {"g": "./g.py:g"}, "ui": {"g": "../elsewhere/ui.tsx"}})
    )
    result = distaff("build-ui", str(tmp_path / "langgraph.json"))
    assert result.returncode == 1
    assert "'../elsewhere/ui.tsx' is outside the project directory" in result.stderr


# --- POST /ui/{graph_id} ------------------------------------------------------------------------


def test_the_fragment_loads_the_bundle_from_absolute_urls(server: Server, project: Path) -> None:
    r = post_ui(server, "genui", {"name": "weather"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    js, css = digest(project, "genui", "entrypoint.js"), digest(project, "genui", "entrypoint.css")
    assert r.text == (
        f'<script src="{server.url}/ui/genui/entrypoint.js?v={js[:16]}"'
        """ onload='__LGUI_genui.render(&quot;weather&quot;, "{{shadowRootId}}")'></script>\n"""
        f'<link rel="stylesheet" href="{server.url}/ui/genui/entrypoint.css?v={css[:16]}" />'
    )


def test_the_name_is_json_then_html_escaped(server: Server) -> None:
    r = post_ui(server, "genui", {"name": 'we"ird<name>&'})
    assert r.status_code == 200
    assert "render(&quot;we\\&quot;ird&lt;name&gt;&amp;&quot;, " in r.text


def test_urls_follow_the_forwarded_host_and_refuse_odd_hosts(server: Server) -> None:
    r = post_ui(
        server,
        "genui",
        {"name": "weather"},
        headers={"x-forwarded-proto": "https", "x-forwarded-host": "chat.example.com, proxy"},
    )
    assert re.search(
        rf'src="https://chat\.example\.com/ui/genui/entrypoint\.js\?v={HEX16}"', r.text
    )
    odd = post_ui(server, "genui", {"name": "weather"}, headers={"x-forwarded-host": 'x"><b'})
    assert f'src="{server.url}/ui/genui/entrypoint.js?v=' in odd.text


def test_an_assistant_id_names_its_graph(server: Server) -> None:
    [assistant] = httpx.post(
        f"{server.url}/assistants/search", json={"graph_id": "genui", "limit": 1}
    ).json()
    r = post_ui(server, assistant["assistant_id"], {"name": "weather"})
    assert r.status_code == 200 and "__LGUI_genui.render(" in r.text
    unknown = post_ui(server, "00000000-0000-4000-8000-000000000000", {"name": "weather"})
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("graph", "body", "status", "detail"),
    [
        ("genui", {}, 422, "name: Field required"),
        ("genui", {"name": 5}, 422, "name: Input should be a valid string"),
        ("genui", {"name": ""}, 422, "name: String should have at least 1 character"),
        ("genui", None, 422, None),
        ("plain", {"name": "weather"}, 404, "UI not found for graph 'plain'"),
        ("nope", {"name": "weather"}, 404, "UI not found for graph 'nope'"),
    ],
)
def test_bad_requests_get_json_details(
    server: Server, graph: str, body: Any, status: int, detail: str | None
) -> None:
    if body is None:
        r = httpx.post(
            f"{server.url}/ui/{graph}",
            content=b"not json",
            headers={"content-type": "application/json"},
        )
    else:
        r = post_ui(server, graph, body)
    assert r.status_code == status
    assert detail is None or r.json() == {"detail": detail}
    assert "detail" in r.json()


def test_both_routes_are_in_the_openapi_document(server: Server) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert set(paths["/ui/{graph_id}"]) == {"post"}
    assert "get" in paths["/ui/{graph_id}/{file}"]


# --- GET /ui/{graph_id}/{file} ------------------------------------------------------------------


def test_assets_are_static_files_cached_by_content_hash(server: Server, project: Path) -> None:
    js = digest(project, "genui", "entrypoint.js")
    url = f"{server.url}/ui/genui/entrypoint.js"
    r = httpx.get(url, params={"v": js[:16]}, headers={"origin": "http://localhost:5173"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["etag"] == f'"{js[:32]}"'
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert r.text.startswith("var __LGUI_genui=")
    # Without the hash (or with an old one) the browser asks again each time.
    assert httpx.get(url, params={"v": "0" * 16}).headers["cache-control"] == "no-cache"
    again = httpx.get(url, headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(r.content))
    part = httpx.get(url, headers={"range": "bytes=0-15"})
    assert part.status_code == 206 and part.text == "var __LGUI_genui"
    css = httpx.get(f"{server.url}/ui/genui/entrypoint.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    [
        "/ui/genui/missing.js",
        "/ui/genui",
        "/ui/genui/",
        "/ui/schemas.json",
        "/ui/genui/../../schemas.json",
        "/ui/genui/..%2F..%2Fschemas.json",
        "/ui/..%2Fschemas.json/x",
        "/ui/genui/%2e%2e/scratch/entrypoint.js",
        "/ui/genui/..%5C..%5Cschemas.json",
        "/ui/.gitignore/x",
        "/ui/plain/entrypoint.js",
    ],
)
def test_nothing_but_bundle_files_is_served(server: Server, path: str) -> None:
    head, body = send_head(
        server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 404 Not Found", (path, head)
    assert json.loads(body) == {"detail": "Not Found"}


# --- push_ui_message ----------------------------------------------------------------------------


async def test_push_ui_message_reaches_the_stream_and_the_state(server: Server) -> None:
    async with server.http() as http:
        thread = (await http.post("/threads", json={})).json()["thread_id"]
        body = {
            "assistant_id": "genui",
            "input": {"messages": [{"role": "user", "content": "Lisbon"}]},
            "stream_mode": ["values", "custom"],
        }
        events = []
        async with http.stream("POST", f"/threads/{thread}/runs/stream", json=body) as r:
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "custom":
                    events.append(json.loads(line.removeprefix("data: ")))
        state = (await http.get(f"/threads/{thread}/state")).json()["values"]
    reply = state["messages"][-1]
    assert reply["type"] == "ai"
    assert [(e["type"], e["id"], e["name"], e["props"]) for e in events] == [
        ("ui", "weather-1", "weather", {"city": "Lisbon", "temp": 21}),
        ("ui", "weather-1", "weather", {"sky": "clear"}),
        ("ui", "note-1", "note", {"text": "unbound note"}),
    ]
    assert [e["metadata"].get("message_id") for e in events] == [reply["id"], reply["id"], None]
    assert [e["metadata"]["merge"] for e in events] == [False, True, False]
    weather, note = state["ui"]
    assert weather["props"] == {"city": "Lisbon", "temp": 21, "sky": "clear"}
    assert weather["metadata"]["message_id"] == reply["id"]
    assert note["id"] == "note-1" and "message_id" not in note["metadata"]


# --- auth, public_url, the flag -----------------------------------------------------------------


def test_post_authenticates_and_the_bundles_do_not(auth_server: Server) -> None:
    r = post_ui(auth_server, "genui", {"name": "weather"})
    assert r.status_code == 401 and r.json() == {"detail": "missing bearer token"}
    ok = post_ui(
        auth_server, "genui", {"name": "weather"}, headers={"authorization": "Bearer alice-token"}
    )
    assert ok.status_code == 200
    # Built at start by `distaff serve`; linked under the public URL (with its path).
    [src] = re.findall(r'src="([^"]+)"', ok.text)
    assert re.fullmatch(
        rf"https://api\.example\.com/agents/ui/genui/entrypoint\.js\?v={HEX16}", src
    )
    asset = httpx.get(f"{auth_server.url}/ui/genui/entrypoint.css")
    assert asset.status_code == 200 and ".weather{" in asset.text


def test_http_disable_ui_removes_the_routes(project: Path) -> None:
    """Beside the built bundles: the flag, not their absence, makes the 404s."""
    manifest = json.loads((project / "langgraph.json").read_text())
    manifest["http"] = {"disable_ui": True}
    path = project / "langgraph.off.json"
    path.write_text(json.dumps(manifest))
    with Server("memory://", manifest=path, log_path=ARTIFACTS / "server-genui-off.log") as srv:
        post = post_ui(srv, "genui", {"name": "weather"})
        get = httpx.get(f"{srv.url}/ui/genui/entrypoint.js")
        paths = httpx.get(f"{srv.url}/openapi.json").json()["paths"]
    assert (post.status_code, get.status_code) == (404, 404)
    assert post.json() == get.json() == {"detail": "Not Found"}
    assert not [p for p in paths if p.startswith("/ui")]


# --- rebuilding -----------------------------------------------------------------------------------


def test_a_broken_component_leaves_the_server_up_until_fixed(server: Server, project: Path) -> None:
    scratch = project / "scratch" / "index.tsx"
    assert post_ui(server, "scratch", {"name": "hello"}).status_code == 200
    try:
        scratch.write_text(BROKEN)
        broken = distaff("build-ui", str(project / "langgraph.json"))
        assert broken.returncode == 1
        assert "ui: scratch: build failed" in broken.stderr
        assert "scratch/index.tsx:1:" in broken.stderr  # where, relative to the project
        # The server stays up: the rest still works, the broken graph is 404 (not stale).
        assert post_ui(server, "genui", {"name": "weather"}).status_code == 200
        assert post_ui(server, "scratch", {"name": "hello"}).status_code == 404
    finally:
        scratch.write_text(SCRATCH.replace("{TEXT}", "mended"))
    fixed = distaff("build-ui", str(project / "langgraph.json"))
    assert fixed.returncode == 0, fixed.stderr
    # schemas.json is read again when it changes: no restart needed.
    r = post_ui(server, "scratch", {"name": "hello"})
    assert r.status_code == 200 and "__LGUI_scratch.render(" in r.text
    assert "mended" in httpx.get(re.findall(r'src="([^"]+)"', r.text)[0]).text


def _wait_for(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := check():
                return result
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.1)


def test_dev_rebuilds_on_every_change(tmp_path: Path) -> None:
    root = copy_app(tmp_path / "app")
    scratch = root / "scratch" / "index.tsx"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "dev.log", "wb")
    dev = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distaff",
            "dev",
            "--no-reload",
            "--config",
            str(root / "langgraph.json"),
            "--port",
            str(port),
            "--database-url",
            "memory://",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "DISTAFF_HEARTBEAT_SECONDS": "5"},
    )

    def script_of() -> str | None:
        r = httpx.post(f"{url}/ui/scratch", json={"name": "hello"}, timeout=2)
        found = re.findall(r'src="([^"]+)"', r.text) if r.status_code == 200 else []
        return found[0] if found else None

    try:
        first = _wait_for(script_of)  # the first build, made at start
        scratch.write_text(BROKEN)
        _wait_for(
            lambda: httpx.post(f"{url}/ui/scratch", json={"name": "hello"}).status_code == 404
        )
        assert httpx.get(f"{url}/ok").status_code == 200
        scratch.write_text(SCRATCH.replace("{TEXT}", "rebuilt"))
        second = _wait_for(script_of)
        assert second != first  # a new content hash
        assert "rebuilt" in httpx.get(second).text
    finally:
        dev.terminate()
        dev.wait(15)
        log.close()
    output = (tmp_path / "dev.log").read_text()
    assert "ui: scratch: build failed" in output
    assert output.count("ui: built scratch") >= 2


# --- in a browser, from another origin ----------------------------------------------------------


@pytest.mark.skipif(
    not (JS / "node_modules").is_dir(),
    reason="tests/js has no node_modules: run `npm ci` in tests/js (scripts/test does it)",
)
async def test_load_external_component_renders_across_origins(
    browser: Browser, pages: str, server: Server
) -> None:
    """The page (tests/js/pages/genui.jsx) is served from an origin of its own."""
    page_origin = pages
    context = await browser.new_context(viewport={"width": 900, "height": 700})
    tab = await context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    loaded: list[str] = []
    tab.on("requestfinished", lambda request: loaded.append(request.url))
    try:
        query = urlencode({"api": server.url, "assistant": "genui", "text": "Lisbon"})
        await tab.goto(f"{page_origin}/genui.html?{query}")
        await expect(tab.get_by_test_id("page")).to_have_attribute("data-loading", "false")
        # Under the AI message, in its shadow root (Playwright's locators pierce open ones).
        ai = tab.locator('[data-testid="message"][data-type="ai"]')
        weather = ai.get_by_test_id("weather")
        await expect(weather).to_have_text("Weather in Lisbon: 21 °C, clear")
        await expect(weather).to_have_css("color", "rgb(0, 102, 68)")
        note = tab.get_by_test_id("unbound").get_by_test_id("note")
        await expect(note).to_have_text("unbound note (0)")
        await note.click()  # the component's own React state, on the page's React
        await expect(note).to_have_text("unbound note (1)")
        ARTIFACTS.mkdir(exist_ok=True)
        await tab.screenshot(path=str(ARTIFACTS / "genui-cross-origin.png"))
    finally:
        await context.close()
    assert not errors, errors
    assert any(u.startswith(f"{server.url}/ui/genui/entrypoint.js?v=") for u in loaded), loaded
    assert any(u.startswith(f"{server.url}/ui/genui/entrypoint.css?v=") for u in loaded), loaded
    assert not [u for u in loaded if u.startswith(page_origin) and "/ui/" in u]


async def test_the_studio_shows_ui_messages(browser: Browser, server: Server) -> None:
    """distaff's studio, in its chat view, renders a graph's UI messages as Agent Chat UI does:
    under the AI message each names, the unbound one after the list."""
    async with server.http() as http:
        (found,) = (await http.post("/assistants/search", json={"graph_id": "genui"})).json()
    context = await browser.new_context(viewport={"width": 1200, "height": 800})
    tab = await context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await tab.goto(f"{server.url}/studio/assistants/{found['assistant_id']}")
        await tab.get_by_test_id("new-thread").click()
        await tab.get_by_test_id("chat-input").fill("Porto")
        await tab.get_by_test_id("chat-send").click()
        ai = tab.locator('[data-testid="message"][data-type="ai"]')
        await expect(ai.get_by_test_id("weather")).to_have_text("Weather in Porto: 21 °C, clear")
        unbound = tab.locator('[data-testid="messages"] > [data-testid="ui-message"]')
        await expect(unbound.get_by_test_id("note")).to_have_text("unbound note (0)")
        await expect(ai.get_by_test_id("note")).to_have_count(0)
        await tab.screenshot(path=str(ARTIFACTS / "genui-studio.png"))
    finally:
        await context.close()
    assert not errors, errors
