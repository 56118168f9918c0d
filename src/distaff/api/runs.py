"""Run routes: background, stream and wait creation (thread and stateless), join, rejoin,
cancel, list, get, delete, batch."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, get_args

from fastapi import Body, Depends, Header, Query, Request
from starlette.responses import Response

from distaff.api.response_schemas import ERRORS, RUN_RESULT, Run, SelectedRun
from distaff.api.responses import JSON, project, run_location, runtime
from distaff.api.routing import Router
from distaff.api.schemas import (
    IdPath,
    RunCreateStateful,
    RunCreateStateless,
    RunsCancel,
)
from distaff.api.sse import (
    EVENT_STREAM,
    EventStream,
    Reader,
    json_stream_response,
    sse_events,
    sse_response,
    wait_body,
)
from distaff.api.validators import MAX_IDS, MAX_SAFE_INT
from distaff.errors import InvalidInput
from distaff.events import StreamEvent
from distaff.models import Page, RunOutcome, StreamMode
from distaff.runtime import Runtime
from distaff.services.run_creation import Delivery
from distaff.usage import empty

router = Router(tags=["runs"], responses=ERRORS)
#: The stateless `/runs...` routes apart from the thread's: each router passes over the paths
#: that are not its own at once (api/routing.py), so `/runs/wait` is not tried against the
#: thread routes first.
stateless_router = Router(tags=["runs"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]
#: The run's token usage on the answer of `/runs/wait` and `/join` (see `usage_header`).
USAGE_HEADER = "X-Distaff-Usage"
RUN_FIELDS = (
    "run_id",
    "thread_id",
    "assistant_id",
    "metadata",
    "status",
    "kwargs",
    "multitask_strategy",
    "created_at",
    "updated_at",
    "langsmith_session_name",
    "usage",
)


async def create_run_response(
    rt: Runtime,
    request: Request,
    thread_id: str | None,
    body: RunCreateStateless,
    delivery: Delivery,
) -> Response:
    payload = body.payload()
    created = await rt.run_creator.create(
        thread_id,
        payload,
        delivery,
        request_id=request.headers.get("x-request-id"),
        headers=dict(request.headers),
    )
    run, sub = created.run, created.subscription
    run_id, tid = run["run_id"], run["thread_id"]
    content_location = run_location(None if thread_id is None else tid, run_id)
    if delivery == "background":
        return JSON(run, headers={"Content-Location": content_location})
    assert sub is not None
    on_disconnect = _canceller(rt, tid, run_id) if body.on_disconnect == "cancel" else None
    reader = Reader(sub, on_disconnect)
    heartbeat = rt.settings.heartbeat_seconds
    if delivery == "stream":
        return sse_response(
            sse_events(reader, heartbeat=heartbeat),
            reader,
            {"Location": f"{content_location}/stream", "Content-Location": content_location},
        )
    # /wait: both forms point at the thread's join URL, as the reference does.
    join = run_location(tid, run_id)
    headers = {"Location": f"{join}/join", "Content-Location": join}
    return _wait_response(rt, request, reader, tid, run_id, headers)


def _wait_response(
    rt: Runtime,
    request: Request,
    reader: Reader,
    thread_id: str,
    run_id: str,
    headers: dict[str, str],
) -> Response:
    """The answer of `/wait` and `/join`. Its head goes out at once, as the reference sends
    it, and newlines follow while the run goes on; with `Prefer: usage` the head waits for the
    run's end instead (no newlines meanwhile) and carries `X-Distaff-Usage`."""
    body = _outcome_body(rt, thread_id)
    if not _prefers_usage(request):
        heartbeat = rt.settings.heartbeat_seconds
        return json_stream_response(wait_body(reader, body, heartbeat=heartbeat), reader, headers)

    async def usage_header() -> dict[str, str]:
        outcome = reader.subscription.outcome
        usage = outcome.usage if outcome is not None else None
        if usage is None:  # ended before this reader came, or heard of from the database
            run = await rt.backend.runs.get(run_id)
            usage = run.get("usage") if run is not None else None
        return {USAGE_HEADER: json.dumps(usage or empty(), separators=(",", ":"))}

    return json_stream_response(
        wait_body(reader, body, heartbeat=None), reader, headers, usage_header
    )


def _prefers_usage(request: Request) -> bool:
    prefer = request.headers.get("prefer")
    return prefer is not None and "usage" in {p.strip().lower() for p in prefer.split(",")}


def _canceller(rt: Runtime, thread_id: str, run_id: str) -> Callable[[], Awaitable[Any]]:
    async def cancel() -> None:
        if await rt.runs.is_active(run_id):
            await rt.runs.cancel_one(thread_id, run_id, "interrupt")

    return cancel


def _outcome_body(rt: Runtime, thread_id: str) -> Callable[[RunOutcome | None], Awaitable[Any]]:
    async def body(outcome: RunOutcome | None) -> Any:
        return await rt.runs.outcome_body(thread_id, outcome)

    return body


# -- thread runs ---------------------------------------------------------------------------


@router.post("/threads/{thread_id}/runs", responses={200: {"model": Run}})
async def create_run(
    thread_id: IdPath, body: RunCreateStateful, request: Request, rt: Rt
) -> Response:
    return await create_run_response(rt, request, thread_id, body, "background")


@router.post("/threads/{thread_id}/runs/stream", response_class=EventStream, responses=EVENT_STREAM)
async def stream_run(
    thread_id: IdPath, body: RunCreateStateful, request: Request, rt: Rt
) -> Response:
    return await create_run_response(rt, request, thread_id, body, "stream")


@router.post("/threads/{thread_id}/runs/wait", responses={200: RUN_RESULT})
async def wait_run(
    thread_id: IdPath, body: RunCreateStateful, request: Request, rt: Rt
) -> Response:
    return await create_run_response(rt, request, thread_id, body, "wait")


@router.get("/threads/{thread_id}/runs", responses={200: {"model": list[SelectedRun]}})
async def list_runs(
    thread_id: IdPath,
    rt: Rt,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_SAFE_INT)] = 0,
    status: Annotated[
        str | None, Query(pattern="^(pending|running|success|error|timeout|interrupted)$")
    ] = None,
    select: Annotated[list[str] | None, Query()] = None,
) -> Response:
    if select and (unknown := set(select) - set(RUN_FIELDS)):
        raise InvalidInput(f"Unknown select field(s): {', '.join(sorted(unknown))}")
    runs = await rt.runs.list_for_thread(thread_id, Page(limit, offset), status)  # type: ignore[arg-type]
    return JSON(project(runs, select))


@router.get("/threads/{thread_id}/runs/{run_id}", responses={200: {"model": Run}})
async def get_run(thread_id: IdPath, run_id: IdPath, rt: Rt) -> Response:
    return JSON(await rt.runs.get(thread_id, run_id))


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
async def delete_run(thread_id: IdPath, run_id: IdPath, rt: Rt) -> Response:
    await rt.runs.delete(thread_id, run_id)
    return Response(status_code=204)


@router.get("/threads/{thread_id}/runs/{run_id}/join", responses={200: RUN_RESULT})
async def join_run(
    thread_id: IdPath,
    run_id: IdPath,
    rt: Rt,
    request: Request,
    cancel_on_disconnect: Annotated[bool, Query()] = False,
) -> Response:
    sub, run = await rt.runs.subscribe(thread_id, run_id, events=False)
    tid = run["thread_id"]
    location = run_location(tid, run["run_id"])
    on_disconnect = _canceller(rt, tid, run["run_id"]) if cancel_on_disconnect else None
    reader = Reader(sub, on_disconnect)
    headers = {"Location": f"{location}/join", "Content-Location": location}
    return _wait_response(rt, request, reader, tid, run["run_id"], headers)


def _parse_modes(raw: list[str] | None) -> list[str] | None:
    """`?stream_mode=values&stream_mode=updates` or `?stream_mode=["values","updates"]`.

    An empty value means no filter: the SDKs send `stream_mode=` when the caller gave none.
    """
    raw = [item for item in raw or () if item.strip()]
    if not raw:
        return None
    modes: list[str] = []
    for item in raw:
        if item.startswith("["):
            try:
                parsed = json.loads(item)
            except json.JSONDecodeError:
                raise InvalidInput(f"stream_mode {item!r} is not a JSON list") from None
            modes.extend(str(m) for m in parsed)
        else:
            modes.extend(m for m in item.split(",") if m)
    allowed = set(get_args(StreamMode))
    if unknown := [m for m in modes if m not in allowed]:
        raise InvalidInput(f"Unknown stream_mode: {', '.join(unknown)}")
    return modes


@router.get(
    "/threads/{thread_id}/runs/{run_id}/stream", response_class=EventStream, responses=EVENT_STREAM
)
async def join_run_stream(
    thread_id: IdPath,
    run_id: IdPath,
    rt: Rt,
    stream_mode: Annotated[list[str] | None, Query()] = None,
    cancel_on_disconnect: Annotated[bool, Query()] = False,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    return await _join_stream(
        rt, thread_id, run_id, stream_mode, cancel_on_disconnect, last_event_id
    )


async def _join_stream(
    rt: Runtime,
    thread_id: str | None,
    run_id: str,
    stream_mode: list[str] | None,
    cancel_on_disconnect: bool,
    last_event_id: str | None,
) -> Response:
    modes = _parse_modes(stream_mode)
    sub, run = await rt.runs.subscribe(thread_id, run_id, last_event_id)
    tid = run["thread_id"]
    location = run_location(tid if thread_id is not None else None, run["run_id"])
    on_disconnect = _canceller(rt, tid, run["run_id"]) if cancel_on_disconnect else None
    reader = Reader(sub, on_disconnect)
    return sse_response(
        sse_events(reader, heartbeat=rt.settings.heartbeat_seconds, modes=modes),
        reader,
        {"Location": f"{location}/stream", "Content-Location": location},
    )


THREAD_STREAM_MODES = {"run_modes", "lifecycle", "state_update"}


@router.get("/threads/{thread_id}/stream", response_class=EventStream, responses=EVENT_STREAM)
async def stream_thread(
    thread_id: IdPath,
    rt: Rt,
    stream_modes: Annotated[list[str] | None, Query()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """Every run on the thread, now and later, multiplexed; it never ends by itself."""
    wanted = {m for item in stream_modes or ["run_modes"] for m in item.split(",") if m} or {
        "run_modes"
    }
    if unknown := wanted - THREAD_STREAM_MODES:
        raise InvalidInput(f"Unknown stream_modes: {', '.join(sorted(unknown))}")
    sub = await rt.runs.subscribe_thread(thread_id, last_event_id)

    def keep(event: StreamEvent) -> bool:
        # Lifecycle: a run starting (its `metadata` event) and ending (`run_done`); the
        # thread's own `state_update`s; every other event is a run's.
        if event.event in ("metadata", "state_update"):
            return ("lifecycle" if event.event == "metadata" else "state_update") in wanted
        return "run_modes" in wanted

    async def unfollow() -> None:  # other processes may stop sending this thread's events
        await rt.runs.unsubscribe_thread(thread_id)

    reader = Reader(sub, unfollow)
    return sse_response(
        sse_events(reader, heartbeat=rt.settings.heartbeat_seconds, keep=keep, always_ids=True),
        reader,
        {},
    )


@router.post(
    "/threads/{thread_id}/runs/{run_id}/cancel",
    responses={200: RUN_RESULT, 202: {"description": "Cancel requested (without `wait`)"}},
)
async def cancel_run(
    thread_id: IdPath,
    run_id: IdPath,
    rt: Rt,
    wait: Annotated[bool, Query()] = False,
    action: Annotated[str, Query(pattern="^(interrupt|rollback)$")] = "interrupt",
) -> Response:
    if not wait:
        await rt.runs.cancel_one(thread_id, run_id, action)
        return Response(status_code=202)
    sub, run = await rt.runs.subscribe(thread_id, run_id, events=False)
    try:
        await rt.runs.cancel_one(thread_id, run_id, action)
    except BaseException:
        sub.close()
        raise
    tid = run["thread_id"]
    location = run_location(tid, run["run_id"])
    reader = Reader(sub)
    return json_stream_response(
        wait_body(reader, _outcome_body(rt, tid), heartbeat=rt.settings.heartbeat_seconds),
        reader,
        {"Location": f"{location}/join", "Content-Location": location},
    )


# -- stateless runs --------------------------------------------------------------------------


@stateless_router.post("/runs", responses={200: {"model": Run}})
async def create_stateless_run(body: RunCreateStateless, request: Request, rt: Rt) -> Response:
    return await create_run_response(rt, request, None, body, "background")


@stateless_router.post("/runs/stream", response_class=EventStream, responses=EVENT_STREAM)
async def stream_stateless_run(body: RunCreateStateless, request: Request, rt: Rt) -> Response:
    return await create_run_response(rt, request, None, body, "stream")


@stateless_router.post("/runs/wait", responses={200: RUN_RESULT})
async def wait_stateless_run(body: RunCreateStateless, request: Request, rt: Rt) -> Response:
    return await create_run_response(rt, request, None, body, "wait")


@stateless_router.get("/runs/{run_id}", responses={200: {"model": Run}})
async def get_run_by_id(run_id: IdPath, rt: Rt) -> Response:
    """Not in the reference (its stateless `Location` headers point nowhere, quirk 1); here
    they lead to the run, so clients that follow them find it."""
    return JSON(await rt.runs.get(None, run_id))


@stateless_router.get("/runs/{run_id}/stream", response_class=EventStream, responses=EVENT_STREAM)
async def join_stateless_stream(
    run_id: IdPath,
    rt: Rt,
    stream_mode: Annotated[list[str] | None, Query()] = None,
    cancel_on_disconnect: Annotated[bool, Query()] = False,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    return await _join_stream(rt, None, run_id, stream_mode, cancel_on_disconnect, last_event_id)


@stateless_router.post("/runs/batch", responses={200: {"model": list[Run]}})
async def batch_runs(
    body: Annotated[list[RunCreateStateless], Body(max_length=MAX_IDS)], request: Request, rt: Rt
) -> Response:
    # All or nothing as far as the request can tell: a bad item fails before any run exists.
    for item in body:
        await rt.assistants.resolve(item.assistant_id, authorized=True)
    runs = []
    for item in body:
        created = await rt.run_creator.create(
            None,
            item.payload(),
            "background",
            request_id=request.headers.get("x-request-id"),
            headers=dict(request.headers),
        )
        runs.append(created.run)
    return JSON(runs)


@stateless_router.post("/runs/cancel", status_code=204)
async def cancel_runs(
    body: RunsCancel,
    rt: Rt,
    action: Annotated[str, Query(pattern="^(interrupt|rollback)$")] = "interrupt",
) -> Response:
    await rt.runs.cancel_many(
        thread_id=str(body.thread_id) if body.thread_id else None,
        run_ids=[str(r) for r in body.run_ids] if body.run_ids is not None else None,
        status=body.status,
        action=action,
    )
    return Response(status_code=204)
