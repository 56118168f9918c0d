"""`/ok`, `/`, `/info`, `/docs`, `/openapi.json`."""

from __future__ import annotations

import httpx

OK = {"ok": True, "services": {}}


async def test_ok_and_root(http: httpx.AsyncClient) -> None:
    for path in ("/ok", "/ok?check_db=1", "/"):
        r = await http.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"] == "application/json"
        assert r.json() == OK, path


async def test_info_reports_versions_and_flags(http: httpx.AsyncClient) -> None:
    r = await http.get("/info")
    assert r.status_code == 200
    info = r.json()
    # Every flag says what is served: crons are; nothing goes to LangSmith.
    assert info["flags"] == {
        "assistants": True,
        "crons": True,
        "langsmith": False,
        "langsmith_tracing_replicas": False,
        "langsmith_tracing_session_on_runs": False,
    }
    # The reference's OpenAPI document requires `metadata`.
    assert info["metadata"]["server"] == "distaff"
    backend = http.base_url  # the fixture's server; its backend is one of these
    assert info["metadata"]["backend"] in ("memory", "sqlite", "postgres"), backend
    assert info["host"]["kind"] == "self-hosted"
    assert info["langgraph_py_version"].count(".") >= 1
    assert isinstance(info["version"], str) and info["version"]


async def test_openapi_document_lists_the_api(http: httpx.AsyncClient) -> None:
    r = await http.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in (
        "/assistants",
        "/assistants/search",
        "/threads",
        "/threads/{thread_id}/state",
        "/threads/{thread_id}/runs/stream",
        "/threads/{thread_id}/runs/{run_id}/join",
        "/runs/wait",
        "/runs/cancel",
    ):
        assert path in paths, path
    assert "post" in paths["/threads/{thread_id}/runs/wait"]


async def test_docs_page_is_html(http: httpx.AsyncClient) -> None:
    r = await http.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "openapi.json" in r.text


async def test_unknown_route_is_json_404(http: httpx.AsyncClient) -> None:
    r = await http.get("/no/such/route")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


async def test_cors_exposes_location_headers(http: httpx.AsyncClient) -> None:
    r = await http.options(
        "/threads",
        headers={"Origin": "http://example.test", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 200
    r = await http.post("/threads", json={}, headers={"Origin": "http://example.test"})
    exposed = r.headers["access-control-expose-headers"].lower()
    for header in ("content-location", "location", "x-pagination-total"):
        assert header in exposed
