"""Cron routes: `/runs/crons` (a new thread per run) and `/threads/{id}/runs/crons`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.responses import Response

from distaff.api.response_schemas import ERRORS, Cron, SelectedCron
from distaff.api.responses import JSON, page_response, runtime
from distaff.api.routing import Router
from distaff.api.schemas import (
    CronBody,
    CronCount,
    CronCreate,
    CronPatch,
    CronSearch,
    IdPath,
    ThreadCronCreate,
)
from distaff.ids import isoformat
from distaff.models import CronQuery, Page
from distaff.runtime import Runtime

router = Router(tags=["crons"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]


def _fields(body: CronBody) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True)
    if body.end_time is not None:
        data["end_time"] = isoformat(body.end_time)
    return data


def _query(body: CronCount, sort_by: str | None = None, sort_order: str | None = None) -> CronQuery:
    return CronQuery(
        assistant_id=body.assistant_id,
        thread_id=str(body.thread_id) if body.thread_id else None,
        enabled=body.enabled,
        metadata=body.metadata or {},
        sort_by=sort_by or "created_at",
        sort_order="asc" if sort_order == "asc" else "desc",
    )


@router.post("/runs/crons", responses={200: {"model": Cron}})
async def create_cron(body: CronCreate, rt: Rt) -> Response:
    return JSON(await rt.crons.create(None, _fields(body)))


@router.post("/threads/{thread_id}/runs/crons", responses={200: {"model": Cron}})
async def create_thread_cron(thread_id: IdPath, body: ThreadCronCreate, rt: Rt) -> Response:
    return JSON(await rt.crons.create(thread_id, _fields(body)))


@router.post("/runs/crons/search", responses={200: {"model": list[SelectedCron]}})
async def search_crons(body: CronSearch, rt: Rt) -> Response:
    query = _query(body, body.sort_by, body.sort_order)
    crons = await rt.crons.search(query, Page(body.limit + 1, body.offset))
    return page_response(list(crons), body.limit, body.offset, body.select)


@router.post("/runs/crons/count", responses={200: {"model": int}})
async def count_crons(body: CronCount, rt: Rt) -> Response:
    return JSON(await rt.crons.count(_query(body)))


@router.get("/runs/crons/{cron_id}", responses={200: {"model": Cron}})
async def get_cron(cron_id: IdPath, rt: Rt) -> Response:
    return JSON(await rt.crons.get(cron_id))


@router.patch("/runs/crons/{cron_id}", responses={200: {"model": Cron}})
async def patch_cron(cron_id: IdPath, body: CronPatch, rt: Rt) -> Response:
    return JSON(await rt.crons.update(cron_id, _fields(body)))


@router.delete("/runs/crons/{cron_id}", status_code=204)
async def delete_cron(cron_id: IdPath, rt: Rt) -> Response:
    await rt.crons.delete(cron_id)
    return Response(status_code=204)
