"""`distaff dev`, `distaff serve`, `distaff worker` and `distaff build-ui`."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import ValidationError

from distaff.errors import ConfigError, describe_validation
from distaff.settings import Settings

if TYPE_CHECKING:
    from distaff.manifest import UiSpec
    from distaff.ui.build import Watcher

_ENV_CONFIG = "DISTAFF_CONFIG"
#: How long an idle client connection stays open. Longer than clients keep theirs (httpx, under
#: langgraph_sdk: 5 s; Node's fetch: 4 s), so the client always gives up first: with uvicorn's
#: default of 5 s, a busy server could close a connection while a request on it was on the way,
#: and the client saw the connection drop with no response.
KEEP_ALIVE_SECONDS = 75
#: httptools with a bounded request head (`max_header_bytes`), named by import string so that
#: the processes uvicorn spawns for `--workers` and reload load it too. Only these commands
#: use it: an app served some other way keeps its server's own head limits.
HTTP_PROTOCOL = "distaff.http_protocol:BoundedHttpToolsProtocol"


def default_database_url(config: Path) -> str:
    """The CLI keeps data in a SQLite file beside the manifest, so a restart loses nothing."""
    return f"sqlite:///{config.resolve().parent / '.distaff' / 'distaff.sqlite'}"


def keep_out_of_git(folder: Path) -> None:
    """The data folder beside the manifest holds its own `.gitignore`, so the database never
    shows in `git status` of the user's project (nor is committed by `git add .`)."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# distaff's data (the SQLite database): not for version control\n*\n")


def app_factory() -> object:
    """Uvicorn's factory: settings come through the environment (as they must under reload)."""
    from distaff.app import from_langgraph_json

    return ConfigErrorsAsMessages(from_langgraph_json(os.environ[_ENV_CONFIG], Settings()))


class ConfigErrorsAsMessages:
    """Report a start-up `ConfigError` (a graph builder failed, an attribute is not a graph) as
    its one-line message instead of a traceback: the user's mistake, not distaff's."""

    _MARK = f"{ConfigError.__module__}.{ConfigError.__qualname__}: "

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)  # type: ignore[no-any-return]

        async def relay(message: Any) -> None:
            if message["type"] == "lifespan.startup.failed":
                last = str(message.get("message") or "").rstrip().rsplit("\n", 1)[-1]
                if last.startswith(self._MARK):
                    message = {**message, "message": last.removeprefix(self._MARK)}
            await send(message)

        return await self.app(scope, receive, relay)  # type: ignore[no-any-return]


def _prepare(config: str, database_url: str | None) -> tuple[Path, str]:
    path = Path(config)
    try:
        from distaff.manifest import load_manifest

        manifest = load_manifest(path)
        manifest.apply_environment()
        # Import every graph now, so a broken manifest or module fails here with a clear
        # message instead of a traceback inside the server.
        from distaff.graphs import import_target

        for spec in manifest.graphs:
            import_target(spec)
        # And check the settings the manifest decides, and the embedding function it names.
        from distaff.app import manifest_settings
        from distaff.embeddings import index_config

        settings = manifest_settings(manifest, Settings())
        if settings.store_index is not None:
            index_config(settings.store_index)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except ValidationError as exc:  # a DISTAFF_* variable with a bad value
        raise click.ClickException(
            f"invalid DISTAFF_* setting: {describe_validation(exc.errors())}"
        ) from None
    url = database_url or os.environ.get("DISTAFF_DATABASE_URL") or default_database_url(path)
    if url == default_database_url(path):
        keep_out_of_git(path.resolve().parent / ".distaff")
    os.environ["DISTAFF_DATABASE_URL"] = url
    os.environ[_ENV_CONFIG] = str(path.resolve())
    return path.resolve(), url


def _log_config() -> dict[str, Any]:
    """Logging for the process and those uvicorn spawns (reload, `--workers`), uvicorn's own
    lines included, in the `DISTAFF_LOG_FORMAT` format; `_prepare` validated the variable."""
    from distaff.observability.logs import logging_config

    return logging_config(Settings().log_format)


def _describe(url: str) -> str:
    if url.startswith("sqlite:///"):
        return f"SQLite file {Path(url.removeprefix('sqlite:///')).resolve()}"
    if url.startswith("memory"):
        return "memory (nothing is kept after exit)"
    return url.split("@")[-1]


_common = [
    click.option(
        "--config", default="langgraph.json", show_default=True, help="Path to langgraph.json."
    ),
    click.option("--host", default="127.0.0.1", show_default=True),
    click.option("--port", default=2024, show_default=True, type=int),
    click.option(
        "--database-url", default=None, help="memory://, sqlite:///path or postgresql://..."
    ),
]


F = TypeVar("F", bound=Callable[..., Any])


def common(fn: F) -> F:
    for option in reversed(_common):
        fn = option(fn)
    return fn


@click.group()
@click.version_option(package_name="distaff")
def main() -> None:
    """distaff: LangGraph graphs behind the Agent Server API."""


@main.command()
@common
@click.option("--no-reload", is_flag=True, help="Do not restart when code changes.")
def dev(config: str, host: str, port: int, database_url: str | None, no_reload: bool) -> None:
    """Development server: reloads on code changes, friendly output."""
    import uvicorn

    from distaff.manifest import load_manifest

    path, url = _prepare(config, database_url)
    # As `langgraph dev`: LangGraph Studio's requests pass custom auth (unless the manifest's
    # auth.disable_studio_auth says no); never in `serve`.
    os.environ.setdefault("DISTAFF_STUDIO_AUTH", "true")
    manifest = load_manifest(path)
    graphs = [g.graph_id for g in manifest.graphs]
    click.echo(
        "\n".join(
            [
                "",
                click.style("  distaff dev server", bold=True),
                f"  API:     http://{host}:{port}",
                f"  Studio:  http://{host}:{port}/studio/",
                f"  Docs:    http://{host}:{port}/docs",
                "  LangGraph Studio (hosted):"
                f" https://smith.langchain.com/studio/?baseUrl=http://{host}:{port}",
                f"  Graphs:  {', '.join(graphs)}",
                f"  Data:    {_describe(url)}",
                f"  Reload:  {'off' if no_reload else 'on (watching ' + str(path.parent) + ')'}",
                *(
                    [f"  UI:      {', '.join(manifest.ui.components)} (rebuilt on change)"]
                    if manifest.ui is not None
                    else []
                ),
                "",
            ]
        )
    )
    # Beside the server (and its reloads): rebuilds the UI bundles on every change.
    watcher = _watch_ui(manifest.ui)
    try:
        _run_dev(uvicorn, path, host, port, no_reload)
    finally:
        if watcher is not None:
            watcher.stop()


def _run_dev(uvicorn: Any, path: Path, host: str, port: int, no_reload: bool) -> None:
    uvicorn.run(
        "distaff.cli:app_factory",
        factory=True,
        host=host,
        port=port,
        reload=not no_reload,
        reload_dirs=[str(path.parent)] if not no_reload else None,
        # The SQLite files change on every write, the UI bundles on every edit; not code.
        reload_excludes=None if no_reload else [".distaff/*", ".langgraph_api/*"],
        log_level="info",
        log_config=_log_config(),
        access_log=False,  # distaff's request lines replace it
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        http=HTTP_PROTOCOL,
    )


def _require_shared(url: str, what: str) -> None:
    """Several processes on one database need PostgreSQL: SQLite and memory are one process."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise click.ClickException(
            f"{what} needs a PostgreSQL database (--database-url postgresql://...): with"
            f" {_describe(url)} only one process can serve and execute runs"
        )


@main.command()
@common
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Server processes on this port (PostgreSQL only).",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Serve the API only; `distaff worker` processes execute the runs (PostgreSQL only).",
)
def serve(
    config: str, host: str, port: int, database_url: str | None, workers: int, no_worker: bool
) -> None:
    """Production server: no reload, quiet access log."""
    import uvicorn

    path, url = _prepare(config, database_url)
    from distaff.manifest import load_manifest

    _ensure_ui_built(load_manifest(path).ui)
    if workers > 1:
        _require_shared(url, "--workers")
    if no_worker:
        _require_shared(url, "--no-worker")
        os.environ["DISTAFF_RUN_WORKER"] = "false"
    # Unprotected and in production: no page from elsewhere may drive it (see api/cors.py).
    os.environ.setdefault("DISTAFF_CORS_DEFAULT", "local")
    uvicorn.run(
        "distaff.cli:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=_log_config(),
        access_log=False,  # distaff's request lines replace it
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        http=HTTP_PROTOCOL,
    )


def _say(line: str) -> None:
    click.echo(line, err=True)


def _watch_ui(spec: UiSpec | None) -> Watcher | None:
    """`distaff dev`'s UI watcher; without Node, one line saying so and a server without UI."""
    from distaff.ui.build import Watcher

    if spec is None:
        return None
    try:
        return Watcher(spec, _say)
    except ConfigError as exc:
        _say(f"distaff: {exc}; serving without it")
        return None


def _ensure_ui_built(spec: UiSpec | None) -> None:
    """`distaff serve` serves what `distaff build-ui` wrote; when nothing is, it builds once if
    it can, and otherwise says what to run. Neither stops the server."""
    from distaff.ui import build

    if spec is None or (spec.output_dir / "schemas.json").is_file():
        return
    try:
        build.tools()
    except ConfigError:
        _say(
            f"distaff: no generative-UI bundles in {spec.output_dir}: run `distaff build-ui`"
            " where Node.js and npm are installed; serving without them"
        )
        return
    try:
        build.build(spec, _say)
    except ConfigError as exc:
        _say(f"distaff: {exc}; serving without them")


@main.command("build-ui")
@click.argument("config", default="langgraph.json", required=False)
@click.option(
    "--install-only",
    is_flag=True,
    help="Only install the bundler (esbuild) into distaff's cache, e.g. in an image or CI.",
)
def build_ui(config: str, install_only: bool) -> None:
    """Bundle the generative-UI components (`ui` in langgraph.json) with esbuild, once, into
    .langgraph_api/ui beside it; `distaff serve` then serves them without Node.js."""
    from distaff.manifest import load_manifest
    from distaff.ui import build

    try:
        if install_only:
            click.echo(f"UI bundler ready in {build.install(_say)}")
            return
        spec = load_manifest(config).ui
        if spec is None:
            raise click.ClickException(f"{config} has no 'ui' key: nothing to build")
        build.build(spec, _say)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"generative UI: built {', '.join(spec.components)} into {spec.output_dir}")


@main.command()
@click.option(
    "--config", default="langgraph.json", show_default=True, help="Path to langgraph.json."
)
@click.option("--database-url", default=None, help="postgresql://...")
def worker(config: str, database_url: str | None) -> None:
    """Queue worker only: executes runs that API processes (`serve --no-worker`) accept."""
    path, url = _prepare(config, database_url)
    _require_shared(url, "distaff worker")
    os.environ["DISTAFF_RUN_WORKER"] = "true"
    logging.config.dictConfig(_log_config())
    try:
        asyncio.run(_work(path))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


async def _work(path: Path) -> None:
    from distaff.app import manifest_settings
    from distaff.graphs import registry_from_specs
    from distaff.manifest import load_manifest
    from distaff.observability import tracing
    from distaff.runtime import Runtime

    tracing.configure()  # run spans; a worker serves no requests
    manifest = load_manifest(path)
    manifest.warn()
    settings = manifest_settings(manifest, Settings())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Runtime.open(settings, registry_from_specs(manifest.graphs)):
        logging.getLogger("distaff").info(
            "worker started: up to %d runs at once from %s",
            settings.max_concurrent_runs,
            _describe(settings.database_url),
        )
        await stop.wait()
        logging.getLogger("distaff").info("worker stopping: draining running runs")
    logging.getLogger("distaff").info("worker stopped")


if __name__ == "__main__":
    main()
