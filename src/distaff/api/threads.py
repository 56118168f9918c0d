"""`/threads` routes (runs on a thread live in `runs.py`)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Header, Query
from starlette.responses import Response

from distaff.api.response_schemas import (
    ERRORS,
    Pruned,
    SelectedThread,
    StateUpdated,
    ThreadRetention,
    ThreadState,
    ThreadStorage,
    ThreadUsage,
)
from distaff.api.response_schemas import Thread as ThreadSchema
from distaff.api.responses import JSON, page_response, runtime
from distaff.api.routing import Router
from distaff.api.schemas import (
    HistoryRequest,
    IdPath,
    RetentionPolicy,
    StateAtCheckpoint,
    StateUpdate,
    ThreadCount,
    ThreadCreate,
    ThreadPatch,
    ThreadPrune,
    ThreadSearch,
)
from distaff.models import Page, Thread, ThreadQuery
from distaff.runtime import Runtime

router = Router(prefix="/threads", tags=["threads"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


def extract_path(doc: Any, path: str) -> Any:
    """`values.messages[-1].content` style lookups; a missing step gives None."""
    for name, index in _PATH_PART.findall(path):
        try:
            doc = doc[int(index)] if index else doc[name]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return doc


#: Newest first.
HISTORY: dict[int | str, dict[str, Any]] = {200: {"model": list[ThreadState]}}


def _public(thread: Thread, include_ttl: bool = False) -> Thread:
    if not include_ttl and "ttl" in thread:
        thread = dict(thread)  # type: ignore[assignment]
        thread.pop("ttl")
    return thread


@router.post("", responses={200: {"model": ThreadSchema}})
async def create_thread(body: ThreadCreate, rt: Rt) -> Response:
    data = body.model_dump(exclude_unset=True)
    if body.thread_id is not None:
        data["thread_id"] = str(body.thread_id)
    return JSON(_public(await rt.threads.create(data)))


@router.post("/search", responses={200: {"model": list[SelectedThread]}})
async def search_threads(body: ThreadSearch, rt: Rt) -> Response:
    query = ThreadQuery(
        ids=tuple(str(i) for i in body.ids) if body.ids is not None else None,
        metadata=body.metadata or {},
        values=body.values or {},
        status=body.status,
        sort_by=body.sort_by or "created_at",
        sort_order=body.sort_order or "desc",
    )
    threads = [
        _public(t) for t in await rt.threads.search(query, Page(body.limit + 1, body.offset))
    ]
    if body.extract:
        threads = [
            {
                **t,
                "extracted": {alias: extract_path(t, path) for alias, path in body.extract.items()},
            }  # type: ignore[typeddict-unknown-key]
            for t in threads
        ]
    select = [*body.select, "extracted"] if body.select and body.extract else body.select
    return page_response(list(threads), body.limit, body.offset, select)


@router.post("/count", responses={200: {"model": int}})
async def count_threads(body: ThreadCount, rt: Rt) -> Response:
    query = ThreadQuery(metadata=body.metadata or {}, values=body.values or {}, status=body.status)
    return JSON(await rt.threads.count(query))


@router.post("/prune", responses={200: {"model": Pruned}})
async def prune_threads(body: ThreadPrune, rt: Rt) -> Response:
    return JSON({"pruned_count": await rt.threads.prune(body.thread_ids, body.strategy)})


@router.get("/{thread_id}", responses={200: {"model": ThreadSchema}})
async def get_thread(
    thread_id: IdPath, rt: Rt, include: Annotated[list[str] | None, Query()] = None
) -> Response:
    wanted = {part for item in include or [] for part in item.split(",")}
    return JSON(_public(await rt.threads.get(thread_id), include_ttl="ttl" in wanted))


@router.patch(
    "/{thread_id}",
    responses={200: {"model": ThreadSchema}, 204: {"description": "`Prefer: return=minimal`"}},
)
async def patch_thread(
    thread_id: IdPath, body: ThreadPatch, rt: Rt, prefer: Annotated[str | None, Header()] = None
) -> Response:
    data = body.model_dump(exclude_unset=True)
    thread = await rt.threads.update(thread_id, data)
    if prefer and "return=minimal" in prefer:
        return Response(status_code=204)
    return JSON(_public(thread))


@router.delete("/{thread_id}", status_code=204)
async def delete_thread(thread_id: IdPath, rt: Rt) -> Response:
    await rt.threads.delete(thread_id)
    return Response(status_code=204)


@router.post("/{thread_id}/copy", responses={200: {"model": ThreadSchema}})
async def copy_thread(thread_id: IdPath, rt: Rt) -> Response:
    return JSON(_public(await rt.threads.copy(thread_id)))


@router.get("/{thread_id}/storage", responses={200: {"model": ThreadStorage}})
async def get_storage(thread_id: IdPath, rt: Rt) -> Response:
    """Bytes the thread occupies in the checkpointer: checkpoints, channel values by channel,
    pending writes (serialised sizes; not comparable across backends)."""
    return JSON(await rt.threads.storage(thread_id))


@router.get("/{thread_id}/retention", responses={200: {"model": ThreadRetention}})
async def get_retention(thread_id: IdPath, rt: Rt) -> Response:
    """The thread's checkpoint retention: its own policy and the one applied (distaff's)."""
    return JSON(await rt.retention.get(thread_id))


@router.put("/{thread_id}/retention", responses={200: {"model": ThreadRetention}})
async def put_retention(thread_id: IdPath, body: RetentionPolicy, rt: Rt) -> Response:
    """Give the thread a retention policy of its own, in place of the deployment's; the
    sweeper applies it on its next pass (distaff's)."""
    return JSON(await rt.retention.put(thread_id, body.model_dump()))


@router.delete("/{thread_id}/retention", responses={200: {"model": ThreadRetention}})
async def delete_retention(thread_id: IdPath, rt: Rt) -> Response:
    """Back to the deployment's retention (distaff's)."""
    return JSON(await rt.retention.put(thread_id, None))


@router.get("/{thread_id}/usage", responses={200: {"model": ThreadUsage}})
async def get_usage(thread_id: IdPath, rt: Rt) -> Response:
    """The tokens the thread's runs used, summed, by model (distaff's)."""
    return JSON(await rt.threads.usage(thread_id))


@router.get("/{thread_id}/state", responses={200: {"model": ThreadState}})
async def get_state(
    thread_id: IdPath, rt: Rt, subgraphs: Annotated[bool, Query()] = False
) -> Response:
    return JSON(await rt.threads.state(thread_id, subgraphs=subgraphs))


@router.post("/{thread_id}/state/checkpoint", responses={200: {"model": ThreadState}})
async def get_state_at_checkpoint_post(
    thread_id: IdPath, body: StateAtCheckpoint, rt: Rt
) -> Response:
    checkpoint = body.checkpoint.model_dump(exclude_none=True)
    return JSON(await rt.threads.state(thread_id, subgraphs=body.subgraphs, checkpoint=checkpoint))


@router.get("/{thread_id}/state/{checkpoint_id}", responses={200: {"model": ThreadState}})
async def get_state_at_checkpoint(
    thread_id: IdPath, checkpoint_id: str, rt: Rt, subgraphs: Annotated[bool, Query()] = False
) -> Response:
    return JSON(
        await rt.threads.state(
            thread_id, subgraphs=subgraphs, checkpoint={"checkpoint_id": checkpoint_id}
        )
    )


@router.post("/{thread_id}/state", responses={200: {"model": StateUpdated}})
async def update_state(thread_id: IdPath, body: StateUpdate, rt: Rt) -> Response:
    data = body.model_dump(exclude_unset=True)
    if body.checkpoint is not None:
        data["checkpoint"] = body.checkpoint.model_dump(exclude_none=True)
    return JSON(await rt.threads.update_state(thread_id, data))


@router.get("/{thread_id}/history", responses=HISTORY)
async def get_history(
    thread_id: IdPath,
    rt: Rt,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1,
    before: Annotated[str | None, Query()] = None,
) -> Response:
    return JSON(await rt.threads.history(thread_id, limit=limit, before=before))


@router.post("/{thread_id}/history", responses=HISTORY)
async def post_history(thread_id: IdPath, body: HistoryRequest, rt: Rt) -> Response:
    before: str | dict[str, Any] | None = (
        body.before
        if isinstance(body.before, str) or body.before is None
        else body.before.model_dump(exclude_none=True)
    )
    return JSON(
        await rt.threads.history(
            thread_id,
            limit=body.limit,
            before=before,
            metadata=body.metadata,
            checkpoint=body.checkpoint.model_dump(exclude_none=True) if body.checkpoint else None,
        )
    )
