"""The run-creating routes answered ahead of FastAPI (api/creation_route.py) in an app built by
`create_app` and used as a library: its dependencies overridden (the routes go through FastAPI
then, so the override applies to them as to every other route), and mounted under another app
(a request handed back goes to distaff's router, not the outer one).

In-process (Starlette's test client runs the app and its lifespan on the memory backend).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

import distaff
from distaff import Settings
from distaff.api.responses import runtime

MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "echo" / "langgraph.json"


def _refuse() -> None:
    raise HTTPException(418, "overridden")


def test_an_overridden_dependency_applies_to_the_run_creating_routes() -> None:
    app = distaff.from_langgraph_json(MANIFEST, settings=Settings(database_url="memory://"))
    body = {"assistant_id": "echo", "input": {"messages": []}}
    with TestClient(app) as client:
        assert client.post("/runs/wait", json=body).status_code == 200
        app.dependency_overrides[runtime] = _refuse
        for path in ("/runs", "/runs/stream", "/runs/wait", "/threads/x/runs/wait"):
            answer = client.post(path, json=body)
            assert (answer.status_code, answer.json()) == (418, {"detail": "overridden"}), path
        app.dependency_overrides.clear()
        assert client.post("/runs/wait", json=body).status_code == 200


def test_a_mounted_app_hands_a_request_back_to_its_own_router() -> None:
    inner = distaff.from_langgraph_json(MANIFEST, settings=Settings(database_url="memory://"))
    outer = FastAPI(lifespan=lambda app: inner.router.lifespan_context(inner))
    outer.mount("/agents", inner)
    with TestClient(outer) as client:
        ran = client.post("/agents/runs/wait", json={"assistant_id": "echo", "input": {}})
        assert ran.status_code == 200, ran.text
        # Handed back (no assistant; then a text body): FastAPI's answers, not the outer 404.
        refused = client.post("/agents/runs/wait", json={})
        assert refused.status_code == 422, refused.text
        assert "assistant_id" in refused.json()["detail"]
        plain = client.post(
            "/agents/threads/x/runs/wait", content=b"{}", headers={"content-type": "text/plain"}
        )
        assert plain.status_code == 422, plain.text
