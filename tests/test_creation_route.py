"""`api/creation_route.py` answers the run-creating requests itself, and must answer each exactly
as FastAPI's own route does. Two real servers on the memory backend: distaff as it ships, and
the same app with FastAPI answering every route (tests/fastapi_only_app.py). Each request goes
to both; status, content type and body must match once run ids and times are masked.

The bad requests are the ones this route hands back (another content type, no body, JSON that
does not parse, a document that does not validate): their answers are FastAPI's either way,
and a route that answered them itself, or lost the body on the way back, would differ here.
The good ones (background, stream and wait, stateless and on a thread, with a charset, extra
fields) go the fast way on one server only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.servers import MANIFEST, Server, free_port, listens_on

ROOT = Path(__file__).resolve().parents[1]
JSON = {"content-type": "application/json"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
_MS = re.compile(r'"(\w*_ms\w*)":\s*[\d.]+')  # durations, `__request_start_time_ms__`


@pytest.fixture(scope="module")
def fast() -> Iterator[str]:
    with Server("memory://", manifest=MANIFEST) as srv:
        yield srv.url


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with its `CreationRoute`s taken out, under uvicorn."""
    port = free_port()
    log = tmp_path_factory.mktemp("plain") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "tests.fastapi_only_app:app"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/ok").status_code == 200 and listens_on(process.pid, port):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(15)


def _masked(text: str) -> str:
    return _MS.sub(r'"\1": 0', _TIME.sub("<time>", _UUID.sub("<id>", text)))


async def _both(
    fast: str, plain: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    answers = []
    for base in (fast, plain):
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            response = await http.post(path.replace("{base}", base), content=body, headers=headers)
        kind = response.headers.get("content-type", "")
        answers.append((response.status_code, kind, _masked(response.text)))
    return answers[0], answers[1]


def _thread_paths() -> list[str]:
    return [f"/threads/{uuid.uuid4()}/runs{suffix}" for suffix in ("", "/stream", "/wait")]


PATHS = ["/runs", "/runs/stream", "/runs/wait"]


def _nested(depth: int) -> bytes:
    deep = b'{"a": ' * depth + b"1" + b"}" * depth
    return b'{"assistant_id": "trivial", "input": {"messages": [], "n": 1, "deep": ' + deep + b"}}"


#: Each with whether it is refused (FastAPI takes a NaN and an integer beyond 64 bits).
BAD = [
    pytest.param(b"", JSON, True, id="no-body"),
    pytest.param(b"{not json", JSON, True, id="not-json"),
    pytest.param(b"[1, 2]", JSON, True, id="an-array"),
    pytest.param(b'"agent"', JSON, True, id="a-string"),
    pytest.param(b"{}", JSON, True, id="no-assistant"),
    pytest.param(b'{"assistant_id": 5}', JSON, True, id="assistant-a-number"),
    pytest.param(b'{"assistant_id": "agent", "stream_mode": "nope"}', JSON, True, id="bad-mode"),
    pytest.param(b'{"assistant_id": "nope"}', JSON, True, id="unknown-assistant"),
    pytest.param(b'{"assistant_id": "trivial"}', {"content-type": "text/plain"}, True, id="text"),
    pytest.param(b'{"assistant_id": "trivial"}', {}, None, id="no-content-type"),
    pytest.param(b'{"assistant_id": "trivial", "input": {"x": NaN}}', JSON, None, id="nan"),
    pytest.param(_nested(600), JSON, False, id="nested-600"),  # FastAPI's, taken
    pytest.param(_nested(950), JSON, None, id="nested-950"),  # orjson's limit is 1024
    pytest.param(
        b'{"assistant_id": "trivial", "input": {"messages": [], "n": -9223372036854775809}}',
        JSON,
        False,
        id="below-64-bits",
    ),
    pytest.param(
        b'{"assistant_id": "trivial", "input": {"messages": [], "n": 1' + b"0" * 30 + b"}}",
        JSON,
        False,
        id="beyond-64-bits",
    ),
]


@pytest.mark.parametrize(("body", "headers", "refused"), BAD)
async def test_a_request_handed_back_is_answered_as_fastapi_answers_it(
    fast: str, plain: str, body: bytes, headers: dict[str, str], refused: bool | None
) -> None:
    for path in PATHS + _thread_paths():
        if path.startswith("/threads") and body.startswith(b'{"assistant_id": "trivial"'):
            body = body.replace(b"{", b'{"if_not_exists": "create", ', 1)
        ours, theirs = await _both(fast, plain, path, body, headers)
        assert ours == theirs, path
        assert ours[0] != 500, (path, ours)
        if refused is not None:
            assert (ours[0] >= 400) is refused, (path, ours)
    if refused is False:
        # Read exactly (as `json.loads` reads it), not as the float orjson would make of it.
        expected = json.loads(body)["input"]["n"]
        tid = str(uuid.uuid4())
        async with httpx.AsyncClient(base_url=fast, timeout=30) as http:
            ran = await http.post(f"/threads/{tid}/runs/wait", content=body, headers=headers)
            assert ran.status_code == 200, ran.text
            runs = (await http.get(f"/threads/{tid}/runs")).json()
        assert runs[0]["kwargs"]["input"]["n"] == expected
        assert isinstance(runs[0]["kwargs"]["input"]["n"], int)


GOOD = [
    pytest.param({"assistant_id": "trivial", "input": {"messages": []}}, JSON, id="plain"),
    pytest.param(
        {"assistant_id": "trivial", "input": {"messages": [{"role": "user", "content": "hi"}]}},
        {"content-type": "application/json; charset=utf-8"},
        id="charset",
    ),
    pytest.param(
        {"assistant_id": "trivial", "input": {"messages": []}, "not_a_field": 1},
        JSON,
        id="extra-field",
    ),
    pytest.param(
        {
            "assistant_id": "trivial",
            "input": {"messages": []},
            "stream_mode": ["values", "updates"],
            "metadata": {"k": "v"},
        },
        JSON,
        id="modes-and-metadata",
    ),
]


@pytest.mark.parametrize(("document", "headers"), GOOD)
async def test_a_run_is_created_as_fastapi_creates_it(
    fast: str, plain: str, document: dict[str, object], headers: dict[str, str]
) -> None:
    stateful = {**document, "if_not_exists": "create"}
    for path in PATHS + _thread_paths():
        body = orjson.dumps(stateful if path.startswith("/threads") else document)
        ours, theirs = await _both(fast, plain, path, body, headers)
        assert ours == theirs, path
        assert ours[0] == 200, (path, ours)


async def test_a_thread_that_does_not_exist_is_refused_alike(fast: str, plain: str) -> None:
    body = b'{"assistant_id": "trivial"}'
    for path in _thread_paths():
        ours, theirs = await _both(fast, plain, path, body, JSON)
        assert ours == theirs
        assert ours[0] == 404
