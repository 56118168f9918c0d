"""Which web pages may call the server from a browser (CORS).

Without `http.cors` in the manifest:
- `distaff dev`, and any server with custom auth: every origin, as the reference allows (a page
  elsewhere can do nothing without the user's token);
- `distaff serve` with no auth: only pages served from this machine (`localhost`, `127.0.0.1`,
  `[::1]`, any port) and the hosted LangGraph Studio. Any other web page the user happens to
  open could otherwise drive an unprotected local server: read its threads, start runs.
Clients outside a browser (the SDKs in Python and Node) send no `Origin` and are not affected.

Chrome asks before a page on a public site (the hosted Studio) may call a server on the user's
machine: its preflight carries `Access-Control-Request-Private-Network: true` and fails unless
the answer allows it. The defaults allow it for the origins they allow.
"""

from __future__ import annotations

from typing import Any, Literal

#: Headers browsers may read: pagination, where a run lives (the JS SDK reconnects there), and
#: the request id the logs carry.
EXPOSED_HEADERS = [
    "x-pagination-total",
    "x-pagination-next",
    "content-location",
    "location",
    "x-request-id",
]
HOSTED_STUDIO = "https://smith.langchain.com"
LOCAL_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"

CorsDefault = Literal["any", "local"]


def cors_options(
    cors: dict[str, Any] | None, default: CorsDefault = "any", *, authenticated: bool = False
) -> dict[str, Any]:
    """Starlette `CORSMiddleware` arguments: `http.cors` when given (the headers the SDKs need
    stay exposed unless it names its own), else the default described above."""
    if cors is not None:
        return {"expose_headers": EXPOSED_HEADERS, **cors}
    options: dict[str, Any] = {
        "allow_methods": ["*"],
        "allow_headers": ["*"],
        "expose_headers": EXPOSED_HEADERS,
        "allow_private_network": True,
    }
    if default == "any" or authenticated:
        return {**options, "allow_origins": ["*"]}
    return {**options, "allow_origins": [HOSTED_STUDIO], "allow_origin_regex": LOCAL_ORIGINS}
