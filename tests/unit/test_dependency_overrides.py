"""An app built by `create_app` whose dependencies a user's test overrides: the run-creating
routes, answered ahead of FastAPI (api/creation_route.py), go through FastAPI then, so the
override applies to them as to every other route.

In-process (Starlette's test client runs the app and its lifespan on the memory backend).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException
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
