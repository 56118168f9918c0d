"""Property-based fuzzing of the whole HTTP API from distaff's own `/openapi.json`.

Schemathesis generates requests for every operation the document lists, valid ones and
invalid ones, and sends them to a real `distaff serve` (SQLite). Every answer must be free of
5xx and match what the document declares: its status, its content type and its body schema
(every 4xx is `{"detail": "<string>"}`). The run is derandomized, so CI sees the same requests
every time, and bounded to a few seconds of generation per operation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ARTIFACTS
from tests.servers import MANIFEST, Server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Random ids only ever find nothing (404). These exist: the server fixture creates them, and
# the fuzzing phase puts them in place of half the ids it generates, so requests reach the code
# behind the lookup (runs really run on the seeded thread).
THREAD = "0f022000-0000-4000-8000-000000000001"
ASSISTANT = "0f022000-0000-4000-8000-000000000002"

CONFIG: dict[str, Any] = {
    "seed": 5,
    # Hypothesis' derandomize (the same cases on every run), and no example database, so
    # nothing carries over from an earlier run.
    "generation": {"max-examples": 5, "deterministic": True, "database": "none"},
    "phases": {
        "examples": {"enabled": False},  # the document has no examples
        # Boundary and wrong-type values for every field. Methods a path does not take get
        # Starlette's own 405, and a repeated query parameter is read as a list: both skipped.
        "coverage": {
            "enabled": True,
            "unexpected-methods": [],
            "generate-duplicate-query-parameters": False,
        },
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
    "request-timeout": 10,
    "dictionaries": {
        "thread": {"values": [THREAD]},
        "assistant": {"values": [ASSISTANT]},
        "graph": {"values": ["trivial"]},
        "now": {"values": [0]},
    },
    # A delayed run would hold a `/wait` or `/stream` past the request timeout.
    "parameters": {"body.after_seconds": {"dictionary": "now", "probability": 1.0}},
    "operations": [
        {
            # Not for deletes (the seeded thread and assistant must last the whole run), nor
            # for the thread stream: on a thread that exists it never ends.
            "include-method": ["GET", "POST", "PATCH", "PUT"],
            "exclude-path": ["/threads/{thread_id}/stream"],
            "parameters": {
                "path.thread_id": {"dictionary": "thread", "probability": 0.5},
                "path.assistant_id": {"dictionary": "assistant", "probability": 0.5},
                "body.assistant_id": {"dictionary": "graph", "probability": 0.5},
                "body.graph_id": {"dictionary": "graph", "probability": 0.5},
            },
        },
        {
            # Their body is `POST /runs`'s and `POST /threads/{thread_id}/runs`'s, which go
            # through the coverage phase; these are fuzzed only (a bit longer), which saves a
            # quarter of the time.
            "include-path": [
                "/runs/stream",
                "/runs/wait",
                "/threads/{thread_id}/runs/stream",
                "/threads/{thread_id}/runs/wait",
            ],
            "phases": {"coverage": {"enabled": False}},
            "generation": {"max-examples": 15},
        },
    ],
}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own (the fuzz fills it with odd threads, assistants and crons), with
    the seeded thread and assistant."""
    root = tmp_path_factory.mktemp("fuzz")
    ARTIFACTS.mkdir(exist_ok=True)
    srv = Server(
        f"sqlite:///{Path(root) / 'db.sqlite'}", log_path=ARTIFACTS / "server-fuzz.log"
    ).start()
    try:
        thread = {"thread_id": THREAD, "metadata": {"graph_id": "trivial"}}
        httpx.post(f"{srv.url}/threads", json=thread).raise_for_status()
        assistant = {"assistant_id": ASSISTANT, "graph_id": "trivial"}
        httpx.post(f"{srv.url}/assistants", json=assistant).raise_for_status()
        yield srv
    finally:
        srv.stop()


def _document() -> dict[str, Any]:
    """The document the fuzz server serves, read at collection time (Schemathesis makes one
    test per operation then, before any fixture runs). Built in a process of its own: building
    the app here would set process-wide state (tracing) under every later test."""
    code = (
        "import json, sys; from distaff.app import from_langgraph_json;"
        " json.dump(from_langgraph_json(sys.argv[1]).openapi(), sys.stdout)"
    )
    built = subprocess.run(
        [sys.executable, "-c", code, str(MANIFEST)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    document: dict[str, Any] = json.loads(built.stdout)
    return document


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))


def test_the_server_serves_this_document(fuzz_server: Server) -> None:
    assert httpx.get(f"{fuzz_server.url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
def test_api_answers_as_documented(case: schemathesis.Case, fuzz_server: Server) -> None:
    case.call_and_validate(base_url=fuzz_server.url, checks=CHECKS)


def test_the_fuzz_reached_past_the_lookups(fuzz_server: Server) -> None:
    """After the fuzz (tests run in file order): the seeded ids were used, so runs ran on the
    seeded thread. Without this a change in how Schemathesis applies them would leave a fuzz
    that only ever meets 404s, and passes."""
    runs = httpx.get(f"{fuzz_server.url}/threads/{THREAD}/runs", params={"limit": 1000})
    assert runs.status_code == 200 and len(runs.json()) > 0, runs.text
