"""What `/openapi.json` says the answers are, read from the app itself (no server).

`tests/test_fuzz.py` checks real answers against these schemas; this checks that the schemas
are there at all, and that declaring them left the answers alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.servers import MANIFEST

#: Success answers with no body: nothing to describe.
BODYLESS = {"202", "204"}

_BUILD = """
import json, sys
from distaff.app import from_langgraph_json
from distaff.settings import Settings
from fastapi.routing import APIRoute

app = from_langgraph_json(sys.argv[1], Settings(database_url="memory://"))
validated = [
    f"{sorted(r.methods)} {r.path}"
    for r in app.routes
    if isinstance(r, APIRoute) and r.response_model is not None
]
json.dump({"document": app.openapi(), "validated": validated}, sys.stdout)
"""


def _build() -> dict[str, Any]:
    """Built in a process of its own, as in `test_fuzz.py`: building the app sets
    process-wide state (tracing) under every later test."""
    built = subprocess.run(
        [sys.executable, "-c", _BUILD, str(MANIFEST)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out: dict[str, Any] = json.loads(built.stdout)
    return out


BUILT = _build()
DOCUMENT: dict[str, Any] = BUILT["document"]


def _success_responses() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, status, response)
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status.startswith("2")
    ]


def _has_schema(response: dict[str, Any]) -> bool:
    return any(media.get("schema") for media in (response.get("content") or {}).values())


def test_every_success_answer_with_a_body_declares_its_schema() -> None:
    responses = _success_responses()
    with_body = [r for r in responses if r[2] not in BODYLESS]
    missing = [f"{m} {p} {s}" for m, p, s, r in with_body if not _has_schema(r)]
    assert not missing, missing
    # 62 of the 72 success answers when this was written; the other 10 are 202/204.
    assert len(with_body) >= 60, len(with_body)


def test_bodyless_answers_declare_no_content() -> None:
    declared = [f"{m} {p} {s}" for m, p, s, r in _success_responses() if s in BODYLESS]
    assert declared
    assert all(not r.get("content") for _, _, s, r in _success_responses() if s in BODYLESS)


def test_no_route_validates_its_answer() -> None:
    """The schemas are declared in `responses=`, so FastAPI only publishes them; a
    `response_model` would re-validate and re-serialise every answer, and drop the keys it does
    not list."""
    assert BUILT["validated"] == []


def _item_ref(path: str, method: str) -> str:
    schema = DOCUMENT["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    assert schema["schema"]["type"] == "array"
    ref: str = schema["schema"]["items"]["$ref"]
    return ref.rsplit("/", 1)[1]


def test_a_page_with_select_may_leave_out_any_key() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    for path, method, full in (
        ("/assistants/search", "post", "Assistant"),
        ("/threads/search", "post", "Thread"),
        ("/runs/crons/search", "post", "Cron"),
        ("/threads/{thread_id}/runs", "get", "Run"),
    ):
        item = schemas[_item_ref(path, method)]
        assert "required" not in item, path
        assert set(item["properties"]) >= set(schemas[full]["properties"]), path
        assert schemas[full]["required"], full


def test_schema_names_are_unique() -> None:
    """Two models of one name make FastAPI fall back to module-qualified names."""
    names = DOCUMENT["components"]["schemas"]
    assert not [name for name in names if "__" in name]
