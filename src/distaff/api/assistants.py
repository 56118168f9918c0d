"""`/assistants` routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from starlette.responses import Response

from distaff.api.response_schemas import (
    ERRORS,
    Assistant,
    AssistantGraph,
    AssistantSchemas,
    AssistantStorage,
    AssistantUsage,
    AssistantVersion,
    SelectedAssistant,
    Subgraphs,
)
from distaff.api.responses import JSON, page_response, project, runtime
from distaff.api.routing import Router
from distaff.api.schemas import (
    AssistantCount,
    AssistantCreate,
    AssistantLatest,
    AssistantPatch,
    AssistantSearch,
    AssistantVersionsSearch,
    IdPath,
)
from distaff.models import AssistantQuery, Page
from distaff.runtime import Runtime

router = Router(prefix="/assistants", tags=["assistants"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]


def _query(body: AssistantCount) -> AssistantQuery:
    return AssistantQuery(metadata=body.metadata or {}, graph_id=body.graph_id, name=body.name)


@router.post("", responses={200: {"model": Assistant}})
async def create_assistant(body: AssistantCreate, rt: Rt) -> Response:
    data = body.model_dump(exclude_unset=True)
    if body.assistant_id is not None:
        data["assistant_id"] = str(body.assistant_id)
    return JSON(await rt.assistants.create(data))


@router.post("/search", responses={200: {"model": list[SelectedAssistant]}})
async def search_assistants(body: AssistantSearch, rt: Rt) -> Response:
    query = AssistantQuery(
        metadata=body.metadata or {},
        graph_id=body.graph_id,
        name=body.name,
        sort_by=body.sort_by or "created_at",
        sort_order=body.sort_order or "desc",
    )
    items = await rt.assistants.search(query, Page(body.limit + 1, body.offset))
    return page_response(list(items), body.limit, body.offset, body.select)


@router.post("/count", responses={200: {"model": int}})
async def count_assistants(body: AssistantCount, rt: Rt) -> Response:
    return JSON(await rt.assistants.count(_query(body)))


@router.get("/{assistant_id}", responses={200: {"model": Assistant}})
async def get_assistant(assistant_id: IdPath, rt: Rt) -> Response:
    return JSON(await rt.assistants.get(assistant_id))


@router.patch("/{assistant_id}", responses={200: {"model": Assistant}})
async def patch_assistant(assistant_id: IdPath, body: AssistantPatch, rt: Rt) -> Response:
    return JSON(await rt.assistants.update(assistant_id, body.model_dump(exclude_unset=True)))


@router.delete("/{assistant_id}", status_code=204)
async def delete_assistant(
    assistant_id: IdPath, rt: Rt, delete_threads: Annotated[bool, Query()] = False
) -> Response:
    if delete_threads:
        assistant = await rt.assistants.get(assistant_id)
        from distaff.models import ThreadQuery

        while threads := await rt.threads.search(
            ThreadQuery(metadata={"assistant_id": assistant["assistant_id"]}), Page(100, 0)
        ):
            for thread in threads:
                await rt.threads.delete(thread["thread_id"])
    await rt.assistants.delete(assistant_id)
    return Response(status_code=204)


@router.get("/{assistant_id}/storage", responses={200: {"model": AssistantStorage}})
async def get_storage(assistant_id: IdPath, rt: Rt) -> Response:
    """Bytes the assistant's threads occupy in the checkpointer, measured now (distaff's)."""
    return JSON(await rt.retention.assistant_storage(assistant_id))


@router.get("/{assistant_id}/usage", responses={200: {"model": AssistantUsage}})
async def get_usage(assistant_id: IdPath, rt: Rt) -> Response:
    """The tokens the assistant's runs used, by model, over all of them (distaff's)."""
    return JSON(await rt.assistants.usage(assistant_id))


@router.get("/{assistant_id}/graph", responses={200: {"model": AssistantGraph}})
async def get_assistant_graph(
    assistant_id: str, rt: Rt, xray: Annotated[str, Query()] = "false"
) -> Response:
    depth: bool | int
    if xray.lower() in ("true", "false"):
        depth = xray.lower() == "true"
    elif xray.isdigit():
        depth = int(xray)
    else:
        from distaff.errors import InvalidInput

        raise InvalidInput("xray must be true, false or a non-negative integer")
    return JSON(await rt.assistants.draw(assistant_id, depth))


@router.get("/{assistant_id}/schemas", responses={200: {"model": AssistantSchemas}})
async def get_assistant_schemas(assistant_id: IdPath, rt: Rt) -> Response:
    return JSON(await rt.assistants.schemas(assistant_id))


@router.get("/{assistant_id}/subgraphs", responses={200: {"model": Subgraphs}})
async def get_assistant_subgraphs(
    assistant_id: IdPath, rt: Rt, recurse: Annotated[bool, Query()] = False
) -> Response:
    return JSON(await rt.assistants.subgraphs(assistant_id, None, recurse))


@router.get("/{assistant_id}/subgraphs/{namespace}", responses={200: {"model": Subgraphs}})
async def get_assistant_subgraphs_ns(
    assistant_id: IdPath, namespace: str, rt: Rt, recurse: Annotated[bool, Query()] = False
) -> Response:
    return JSON(await rt.assistants.subgraphs(assistant_id, namespace, recurse))


@router.post("/{assistant_id}/versions", responses={200: {"model": list[AssistantVersion]}})
async def list_versions(assistant_id: IdPath, body: AssistantVersionsSearch, rt: Rt) -> Response:
    return JSON(
        await rt.assistants.versions(
            assistant_id, body.metadata or {}, Page(body.limit, body.offset)
        )
    )


@router.post("/{assistant_id}/latest", responses={200: {"model": Assistant}})
async def set_latest(assistant_id: IdPath, body: AssistantLatest, rt: Rt) -> Response:
    return JSON(await rt.assistants.set_latest(assistant_id, body.version))


__all__ = ["project", "router"]
