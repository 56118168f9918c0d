"""Where clients reach this API, for the URLs distaff hands out in bodies (generative-UI
assets, A2A agent cards): a proxy in front changes the scheme and host the server sees."""

from __future__ import annotations

import re

from fastapi import Request

#: A `Host` or `X-Forwarded-Host` that can go into a URL as it is.
_HOST = re.compile(r"^[A-Za-z0-9._~\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def public_base(request: Request, public_url: str | None) -> str:
    """Where the browser reaches this API: `public_url` when set, else the scheme and host a
    proxy forwarded (`X-Forwarded-Proto`, `X-Forwarded-Host`), else the request's own, with
    the app's mount path."""
    if public_url:
        return public_url.rstrip("/")
    proto = _first(request.headers.get("x-forwarded-proto"))
    if proto not in ("http", "https"):
        proto = request.url.scheme
    host = _first(request.headers.get("x-forwarded-host")) or request.headers.get("host", "")
    if not _HOST.match(host):
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{proto}://{host}{request.scope.get('root_path', '')}".rstrip("/")


def _first(value: str | None) -> str:
    """The first (client-side) entry of a forwarded header that proxies append to."""
    return (value or "").split(",")[0].strip()
