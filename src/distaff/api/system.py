"""`/ok`, `/`, `/info`."""

from __future__ import annotations

from typing import Annotated

import langgraph.version
from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from distaff import __version__
from distaff.api.responses import JSON, runtime
from distaff.api.schemas import ERRORS
from distaff.runtime import Runtime

router = APIRouter(tags=["system"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]


@router.get("/ok")
async def ok(rt: Rt, check_db: Annotated[bool, Query()] = False) -> Response:
    if check_db:
        try:
            await rt.backend.check()
        except Exception as exc:
            return JSON({"ok": False, "detail": f"database check failed: {exc}"}, status_code=503)
    return JSON({"ok": True, "services": {}})


@router.get("/")
async def root(rt: Rt) -> Response:
    return JSON({"ok": True, "services": {}})


@router.get("/info")
async def info(rt: Rt) -> Response:
    """What this server is and serves. Every flag says what is really there: crons are
    served unless `http.disable_runs` removed them; nothing here goes to LangSmith."""
    backend = rt.settings.database_url.split(":", 1)[0].replace("postgresql", "postgres")
    return JSON(
        {
            "version": __version__,
            "langgraph_py_version": langgraph.version.__version__,
            "flags": {
                "assistants": not rt.settings.http.disable_assistants,
                "crons": not rt.settings.http.disable_runs,
                "langsmith": False,
                "langsmith_tracing_replicas": False,
                "langsmith_tracing_session_on_runs": False,
            },
            "host": {
                "kind": "self-hosted",
                "project_id": None,
                "host_revision_id": None,
                "revision_id": None,
                "tenant_id": None,
            },
            # Required by the reference's OpenAPI document ("server deployment metadata").
            "metadata": {"server": "distaff", "backend": backend},
            "server": "distaff",
        }
    )
