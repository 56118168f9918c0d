"""JSON responses in the reference's shapes: compact JSON, bare arrays with pagination headers,
`select` projections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from starlette.responses import Response

from distaff.runtime import Runtime
from distaff.serde import dumps


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


async def runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a sync dependency in a thread pool, a hop per request.
    rt: Runtime = request.state.runtime
    return rt


def project(items: Sequence[Mapping[str, Any]], select: Sequence[str] | None) -> list[Any]:
    if not select:
        return list(items)
    return [{k: item[k] for k in select if k in item} for item in items]


def page_response(items: list[Any], limit: int, offset: int, select: Sequence[str] | None) -> JSON:
    """A search page. The service fetched `limit + 1` rows to learn whether another page exists;
    like the reference, Total is then `next_offset + 1` (contract quirk 3), else the real total."""
    more = len(items) > limit
    items = items[:limit]
    headers = {}
    if more:
        headers["X-Pagination-Total"] = str(offset + limit + 1)
        headers["X-Pagination-Next"] = str(offset + limit)
    else:
        headers["X-Pagination-Total"] = str(offset + len(items))
    return JSON(project(items, select), headers=headers)


def run_location(thread_id: str | None, run_id: str) -> str:
    return f"/threads/{thread_id}/runs/{run_id}" if thread_id else f"/runs/{run_id}"
