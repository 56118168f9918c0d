"""Run webhooks: refused destinations (SSRF policy), and delivery with retries to a real local
HTTP listener."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from distaff.errors import ConfigError
from distaff.manifest import load_manifest
from tests.servers import MANIFEST, Server

MSG = {"messages": [{"role": "user", "content": "hook me"}]}


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://127.0.0.1:9/hook", "Webhook host blocked: loopback IP range"),
        ("http://localhost:9/hook", "Webhook host blocked: loopback IP range"),
        ("http://[::1]:9/hook", "Webhook host blocked: loopback IP range"),
        ("http://10.1.2.3/hook", "Webhook host blocked: private IP range"),
        ("http://169.254.169.254/latest/meta-data", "Webhook host blocked: private IP range"),
        ("ftp://example.invalid/hook", "Webhook must be an absolute http(s) URL"),
        ("/relative/hook", "Webhook must be an absolute http(s) URL"),
    ],
)
async def test_refused_destinations_are_422(http: httpx.AsyncClient, url: str, detail: str) -> None:
    r = await http.post(
        "/runs/wait", json={"assistant_id": "trivial", "input": MSG, "webhook": url}
    )
    assert r.status_code == 422
    assert r.json() == {"detail": detail}


class Listener:
    """A real HTTP receiver on loopback; answers 500 to the first `failures` requests."""

    def __init__(self, failures: int) -> None:
        self.requests: list[dict[str, Any]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                listener.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                self.send_response(500 if len(listener.requests) <= failures else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    receiver = Listener(failures=1)
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def hooked() -> Iterator[Server]:
    policy = {
        "disable_loopback": False,
        "retry_seconds": 0.2,
        "headers": {"x-hook-secret": "s3cret"},
    }
    with Server("memory://", env={"DISTAFF_WEBHOOKS": json.dumps(policy)}) as srv:
        yield srv


@pytest.fixture
async def hooked_http(hooked: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with hooked.http() as c:
        yield c


async def _received(listener: Listener, count: int) -> None:
    for _ in range(100):
        if len(listener.requests) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(listener.requests)} webhook requests, wanted {count}")


async def test_delivered_after_the_run_and_retried_after_a_500(
    hooked_http: httpx.AsyncClient, listener: Listener
) -> None:
    tid = (await hooked_http.post("/threads", json={})).json()["thread_id"]
    body = {"assistant_id": "trivial", "input": MSG, "webhook": f"{listener.url}/hook?x=1"}
    r = await hooked_http.post(f"/threads/{tid}/runs/wait", json=body)
    assert r.status_code == 200
    await _received(listener, 2)
    first, second = listener.requests[:2]
    assert first["body"]["run_id"] == second["body"]["run_id"]
    payload = second["body"]
    assert second["path"] == "/hook?x=1"
    assert second["headers"]["x-hook-secret"] == "s3cret"
    assert second["headers"]["Content-Type"] == "application/json"
    assert payload["thread_id"] == tid
    assert payload["status"] == "success"
    assert [m["content"] for m in payload["values"]["messages"]] == ["hook me", "ok"]
    assert payload["error"] is None
    for key in ("run_started_at", "run_ended_at", "webhook_sent_at", "kwargs", "assistant_id"):
        assert key in payload, key
    assert payload["run_started_at"] <= payload["run_ended_at"] <= payload["webhook_sent_at"]


async def test_failed_and_stateless_runs_report_too(
    hooked_http: httpx.AsyncClient, listener: Listener
) -> None:
    listener.requests.clear()
    hook = f"{listener.url}/stateless"
    body = {"assistant_id": "agent", "input": {"messages": [{"role": "user", "content": "boom"}]}}
    await hooked_http.post("/runs/wait", json={**body, "webhook": hook})
    await _received(listener, 2)  # the first answer is a 500, then the retry
    payload = listener.requests[-1]["body"]
    assert payload["status"] == "error"
    assert payload["error"] == {"error": "ValueError", "message": "boom requested"}
    assert payload["values"] is None  # stateless: no thread state to report


def test_manifest_webhook_headers_read_only_prefixed_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.loads(MANIFEST.read_text())
    raw["webhooks"] = {
        "url": {"disable_loopback": False, "require_https": True},
        "headers": {"x-hook-secret": "{{ env.LG_WEBHOOK_SECRET }}"},
    }
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(raw))
    monkeypatch.setenv("LG_WEBHOOK_SECRET", "from-env")
    hooks = load_manifest(path).settings_overrides()["webhooks"]
    assert hooks == {
        "disable_loopback": False,
        "require_https": True,
        "headers": {"x-hook-secret": "from-env"},
    }
    raw["webhooks"]["headers"] = {"x": "{{ env.HOME }}"}
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="LG_WEBHOOK_"):
        load_manifest(path).settings_overrides()


async def test_manifest_header_templates_in_both_syntaxes_reach_the_receiver(
    tmp_path: Path, listener: Listener
) -> None:
    # `${{ env.X }}` is the official syntax (the `$` is part of the template, not a literal);
    # `{{ env.X }}` is accepted too.
    raw = json.loads(MANIFEST.read_text())
    raw["dependencies"] = [str(MANIFEST.parent)]
    raw["graphs"] = {"trivial": f"{MANIFEST.parent / 'graphs.py'}:trivial"}
    raw["webhooks"] = {
        "url": {"disable_loopback": False},
        "headers": {
            "x-official": "${{ env.LG_WEBHOOK_SECRET }}",
            "authorization": "Bearer {{env.LG_WEBHOOK_TOKEN}}",
        },
    }
    manifest = tmp_path / "langgraph.json"
    manifest.write_text(json.dumps(raw))
    env = {"LG_WEBHOOK_SECRET": "s3cret", "LG_WEBHOOK_TOKEN": "t0ken"}
    with Server("memory://", manifest=manifest, env=env) as srv:
        async with srv.http() as http:
            body = {"assistant_id": "trivial", "input": MSG, "webhook": f"{listener.url}/hook"}
            assert (await http.post("/runs/wait", json=body)).status_code == 200
            await _received(listener, 1)
    headers = listener.requests[-1]["headers"]
    assert headers["x-official"] == "s3cret"
    assert headers["authorization"] == "Bearer t0ken"
