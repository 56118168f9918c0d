"""Fixtures: one real distaff server per backend for the session, and SDK clients for it.

Every contract test takes `client` (the real `langgraph_sdk` async client) or `http` (httpx,
for wire-level checks) and runs once per backend: memory, SQLite, PostgreSQL, and PostgreSQL
with Redis as the stream broker (`redis`).
"""

from __future__ import annotations

import functools
import os
import ssl
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import httpx._transports.default
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.backends import SERVERS
from tests.postgres import Cluster
from tests.redis import RedisServer
from tests.servers import Server


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def _create_ssl_context(
    verify: ssl.SSLContext | str | bool = True, cert: object = None, trust_env: bool = True
) -> ssl.SSLContext:
    """httpx's, with the default context built once: every client and SDK client the tests
    make (one or more per test) otherwise loads the CA bundle again, ~30 ms of CPU each, for
    loopback http that never uses it."""
    if verify is True and cert is None and trust_env:
        return _default_ssl_context()
    return httpx.create_ssl_context(verify, cert, trust_env)  # type: ignore[arg-type]


httpx._transports.default.create_ssl_context = _create_ssl_context  # type: ignore[assignment]

# The servers and CLI processes the tests start import all of distaff (and the test graphs)
# each time; with PYTHONDONTWRITEBYTECODE set they compile it from source every time (~0.15 s
# of CPU a start). They cache their bytecode instead, out of the source tree, in the venv.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    os.environ.setdefault("PYTHONPYCACHEPREFIX", str(Path(sys.prefix) / "pycache"))

# Server logs, one folder per xdist worker: the session servers of both workers share names.
ARTIFACTS = (
    Path(__file__).parent.parent / "test-artifacts" / os.environ.get("PYTEST_XDIST_WORKER", "")
)
ARTIFACTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("distaff")


@pytest.fixture(scope="session")
def pg_cluster(tmp_root: Path) -> Iterator[Cluster]:
    """Started the first time a test needs PostgreSQL."""
    cluster = Cluster(tmp_root / "postgres")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_root: Path) -> Iterator[RedisServer]:
    """Started the first time a test needs Redis."""
    server = RedisServer(tmp_root / "redis")
    yield server
    server.stop()


def database_url(backend: str, root: Path, request: pytest.FixtureRequest) -> str:
    """A fresh database of the given backend (`redis` is PostgreSQL; see `backend_env`)."""
    if backend == "memory":
        return "memory://"
    if backend in ("postgres", "redis"):
        cluster: Cluster = request.getfixturevalue("pg_cluster")
        return cluster.database()
    return f"sqlite:///{root / f'{backend}-{uuid.uuid4().hex[:8]}' / 'db.sqlite'}"


def backend_env(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings a server of the given backend needs besides its database URL."""
    if backend == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        return {"DISTAFF_REDIS_URL": redis.url}
    return {}


@pytest.fixture(scope="session", params=SERVERS)
def server(request: pytest.FixtureRequest, tmp_root: Path) -> Iterator[Server]:
    backend: str = request.param
    ARTIFACTS.mkdir(exist_ok=True)
    srv = Server(
        database_url(backend, tmp_root, request),
        env=backend_env(backend, request),
        log_path=ARTIFACTS / f"server-{backend}.log",
    ).start()
    yield srv
    srv.stop()


@pytest.fixture
def backend_name(server: Server) -> str:
    return server.database_url.split(":", 1)[0].replace("postgresql", "postgres")


@pytest.fixture
async def client(server: Server) -> AsyncIterator[LangGraphClient]:
    lg = get_client(url=server.url)
    try:
        yield lg
    finally:
        await lg.http.client.aclose()


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with server.http() as c:
        yield c


# Where the suite's time goes, by module (setup, call and teardown together): the slowest are
# printed after the run, so the time budget can be kept with figures rather than guesses.
_MODULE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::", 1)[0]
    _MODULE_SECONDS[module] = _MODULE_SECONDS.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _MODULE_SECONDS:
        return
    terminalreporter.section("seconds by module (slowest 25)")
    ranked = sorted(_MODULE_SECONDS.items(), key=lambda item: item[1], reverse=True)
    for module, seconds in ranked[:25]:
        terminalreporter.write_line(f"{seconds:8.1f}  {module}")
    terminalreporter.write_line(f"{sum(_MODULE_SECONDS.values()):8.1f}  in all")
