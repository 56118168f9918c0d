"""`/studio`: the built-in studio, a single-page app. Its assets are content-hashed, so they
are cached for good; `index.html` is not, so a new build is picked up at once. Every other path
under `/studio/` is the app's own route and gets `index.html` (a reload keeps its place)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.responses import FileResponse, RedirectResponse, Response

from distaff.api.responses import JSON
from distaff.api.routing import Router
from distaff.studio import DIST

router = Router(include_in_schema=False)

IMMUTABLE = "public, max-age=31536000, immutable"


def _file(path: Path) -> Path | None:
    """`path` if it is a file inside the build (no `..` escapes)."""
    try:
        resolved = path.resolve()
        resolved.relative_to(DIST.resolve())
    except (OSError, ValueError):
        return None
    return resolved if resolved.is_file() else None


def _index() -> Response:
    index = _file(DIST / "index.html")
    if index is None:
        return JSON(
            {"detail": "The studio is not built in this installation (npm run build in studio/)"},
            status_code=404,
        )
    return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.api_route("/studio", methods=["GET", "HEAD"])
async def studio_root() -> Response:
    return RedirectResponse("/studio/", status_code=307)


@router.api_route("/studio/{path:path}", methods=["GET", "HEAD"])
async def studio(path: str) -> Response:
    if path.startswith("assets/"):
        asset = _file(DIST / path)
        if asset is None:
            return JSON({"detail": "Not Found"}, status_code=404)
        media_type = mimetypes.guess_type(asset.name)[0] or "application/octet-stream"
        return FileResponse(asset, media_type=media_type, headers={"Cache-Control": IMMUTABLE})
    return _index()
