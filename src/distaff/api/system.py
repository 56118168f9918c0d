"""`/ok`, `/`, `/info`."""

from __future__ import annotations

from typing import Annotated

import langgraph.version
from fastapi import Depends, Query
from pydantic import BaseModel
from starlette.responses import Response

from distaff.api.response_schemas import ERRORS
from distaff.api.responses import JSON, runtime
from distaff.api.routing import Router
from distaff.models import Json
from distaff.runtime import Runtime
from distaff.version import __version__

router = Router(tags=["system"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]


# The answers, for `/openapi.json` (`response_schemas.py` says why as models).


class Ok(BaseModel):
    """The server is up."""

    ok: bool
    services: Json


class InfoFlags(BaseModel):
    assistants: bool
    crons: bool
    langsmith: bool
    langsmith_tracing_replicas: bool
    langsmith_tracing_session_on_runs: bool


class InfoHost(BaseModel):
    kind: str
    project_id: str | None
    host_revision_id: str | None
    revision_id: str | None
    tenant_id: str | None


class Info(BaseModel):
    """What this server is and serves."""

    version: str
    langgraph_py_version: str
    flags: InfoFlags
    host: InfoHost
    metadata: Json
    server: str


@router.get("/ok", responses={200: {"model": Ok}})
async def ok(rt: Rt, check_db: Annotated[bool, Query()] = False) -> Response:
    if check_db:
        try:
            await rt.backend.check()
        except Exception as exc:
            return JSON({"ok": False, "detail": f"database check failed: {exc}"}, status_code=503)
    return JSON({"ok": True, "services": {}})


@router.get("/", responses={200: {"model": Ok}})
async def root(rt: Rt) -> Response:
    return JSON({"ok": True, "services": {}})


@router.get("/info", responses={200: {"model": Info}})
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
