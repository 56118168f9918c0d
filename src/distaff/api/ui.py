"""Generative UI: `POST /ui/{graph_id}` gives the HTML fragment that loads a component,
`GET /ui/{graph_id}/{file}` serves the bundles (`services/ui.py` says what they are).

The POST is an API route (custom auth applies); the GETs never authenticate, as in the
reference: the browser fetches them with plain script and link tags, which carry no token.
The fragment's URLs are absolute, so a page served from another origin than the API (Agent
Chat UI's usual deployment) loads them from the API; the reference's root-relative URLs point
at the page's own origin there, and the component never loads.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import Path, Request
from pydantic import Field
from starlette.responses import FileResponse, HTMLResponse, Response

from distaff.api.public_url import public_base
from distaff.api.response_schemas import ERRORS
from distaff.api.routing import Router
from distaff.api.schemas import Body
from distaff.errors import NotFound
from distaff.runtime import Runtime
from distaff.services.ui import UiBundles

router = Router(tags=["UI"], responses=ERRORS)
#: The bundles: mounted without authentication.
assets_router = Router(tags=["UI"], responses=ERRORS)

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
#: For `?v=<content hash>` URLs: the content under such a URL never changes.
_IMMUTABLE = "public, max-age=31536000, immutable"


class UiComponentRequest(Body):
    name: str = Field(min_length=1, description="The component's name in the graph's bundle.")


def bundles(request: Request) -> UiBundles:
    ui: UiBundles = request.app.state.ui_bundles
    return ui


GraphId = Annotated[str, Path(description="A graph id (or an assistant id) that has `ui`")]


@router.post(
    "/ui/{graph_id}",
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "Script and stylesheet tags that load and render the component",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    },
)
async def ui_component(graph_id: GraphId, body: UiComponentRequest, request: Request) -> Response:
    """The HTML fragment `LoadExternalComponent` (`@langchain/langgraph-sdk/react-ui`) puts
    in a shadow root to show component `name` of the graph's bundle: `{{shadowRootId}}` is
    its placeholder for that root's id. The asset URLs are absolute."""
    rt: Runtime = request.state.runtime
    ui = bundles(request)
    graph = await ui.graph_of(graph_id, rt.assistants)
    base = public_base(request, rt.settings.public_url)
    return HTMLResponse(ui.fragment(graph, body.name, base), headers={"cache-control": "no-store"})


@assets_router.api_route("/ui/{graph_id}", methods=["GET", "HEAD"], include_in_schema=False)
async def ui_folder(graph_id: str) -> Response:
    """No listing of a bundle (without this the POST route would answer 405)."""
    raise NotFound()


_FILE_CONTENT = {
    "text/javascript": {"schema": {"type": "string"}},
    "text/css": {"schema": {"type": "string"}},
}


@assets_router.head("/ui/{graph_id}/{file:path}", include_in_schema=False)
@assets_router.get(
    "/ui/{graph_id}/{file:path}",
    response_class=FileResponse,
    responses={
        200: {"description": "The file", "content": _FILE_CONTENT},
        206: {"description": "The part a `Range` header asked for", "content": _FILE_CONTENT},
        304: {"description": "Not modified (`If-None-Match`)"},
    },
)
async def ui_asset(graph_id: str, file: str, request: Request) -> Response:
    """A file of a graph's bundle, without authentication. The ETag is its content hash; asked
    for with the `?v=` that `POST /ui/{graph_id}` puts in its URLs, it may be cached for good."""
    asset = bundles(request).file(graph_id, file)
    if asset is None:
        raise NotFound()
    etag = f'"{asset.digest[:32]}"'
    immutable = request.query_params.get("v") == asset.digest[:16]
    headers = {"etag": etag, "cache-control": _IMMUTABLE if immutable else "no-cache"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    suffix = asset.path.suffix.lower()
    media_type = _TYPES.get(suffix) or mimetypes.guess_type(asset.path.name)[0]
    media_type = media_type or "application/octet-stream"
    return FileResponse(asset.path, media_type=media_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags
