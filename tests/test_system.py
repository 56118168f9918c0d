"""`/ok`, `/`, `/info`, `/docs`, `/openapi.json`."""

from __future__ import annotations

import re

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


async def test_docs_page_is_html_and_needs_no_cdn(http: httpx.AsyncClient) -> None:
    r = await http.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "openapi.json" in r.text
    # Every script and stylesheet comes from this server (the machine may have no internet).
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    for asset in assets:
        got = await http.get(asset)
        assert got.status_code == 200, asset
        assert len(got.content) > 100, asset
    assert "SwaggerUIBundle" in (await http.get("/docs/assets/swagger-ui-bundle.js")).text


async def test_unknown_route_is_json_404(http: httpx.AsyncClient) -> None:
    r = await http.get("/no/such/route")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


async def test_cors_exposes_location_headers(http: httpx.AsyncClient) -> None:
    origin = {"Origin": "http://localhost:3000"}  # e.g. Agent Chat UI run locally
    r = await http.options("/threads", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 200
    r = await http.post("/threads", json={}, headers=origin)
    exposed = r.headers["access-control-expose-headers"].lower()
    for header in ("content-location", "location", "x-pagination-total"):
        assert header in exposed


async def test_serve_without_auth_lets_only_local_pages_and_the_hosted_studio_in(
    http: httpx.AsyncClient,
) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    for origin in ("http://localhost:5173", "http://127.0.0.1:8080", "https://smith.langchain.com"):
        r = await http.options("/threads", headers={**preflight, "Origin": origin})
        assert r.status_code == 200, origin
        assert r.headers["access-control-allow-origin"] == origin
    # Any other page the user happens to open may not drive an unprotected server.
    for origin in ("https://evil.example", "http://localhost.evil.example"):
        r = await http.options("/threads", headers={**preflight, "Origin": origin})
        assert r.status_code == 400, origin
        assert "access-control-allow-origin" not in r.headers
        r = await http.post("/threads", json={}, headers={"Origin": origin})
        assert "access-control-allow-origin" not in r.headers


async def test_a_private_network_preflight_is_answered(http: httpx.AsyncClient) -> None:
    # Chrome asks before the hosted Studio (a public site) may call a server on this machine.
    headers = {
        "Origin": "https://smith.langchain.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Private-Network": "true",
    }
    r = await http.options("/info", headers=headers)
    assert r.status_code == 200
    assert r.headers["access-control-allow-private-network"] == "true"
    # An origin CORS refuses is refused all the same.
    r = await http.options("/info", headers={**headers, "Origin": "https://evil.example"})
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers
