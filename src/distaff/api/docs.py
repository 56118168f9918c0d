"""`/docs`: Swagger UI for `/openapi.json`, served from this process.

FastAPI's default page loads Swagger UI from a CDN, so on a machine without internet (or behind
a proxy that blocks it) the page stays blank. The assets come from the `swagger-ui-bundle-v2`
wheel instead (Swagger UI 5, which reads OpenAPI 3.1), under `/docs/assets/`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from distaff.api.routing import Router

ASSETS = "/docs/assets"


def _assets_dir() -> Path:
    import swagger_ui_bundle  # type: ignore[import-untyped]

    return Path(swagger_ui_bundle.swagger_ui_path)


def install(app: FastAPI) -> None:
    router = Router(include_in_schema=False)

    @router.get("/docs")
    async def docs(request: Request) -> HTMLResponse:
        # Behind a proxy that mounts the server under a prefix, the page's URLs keep it.
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        )

    @router.get("/docs/oauth2-redirect")
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=_assets_dir()), name="docs-assets")
