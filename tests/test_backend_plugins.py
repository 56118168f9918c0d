"""The backend registry is open: a scheme added with `distaff.register_backend`, or by an
installed package's `distaff.backends` entry point, opens like the built-in ones, serves a
real server, and the repository contract suite can be pointed at it
(`CONTRACT_DATABASE_URL`). The plug-in here is tests/backend_plugin/plugsqlite.py; the
distribution metadata that declares its entry point is written per test, as `pip install`
would write it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import distaff
from distaff.backends import registry
from distaff.backends.base import Backend
from distaff.errors import ConfigError
from tests.clients import sdk
from tests.conftest import ARTIFACTS
from tests.servers import Server

PLUGIN_DIR = Path(__file__).parent / "backend_plugin"
REPO = Path(__file__).parent.parent


def _install(site: Path) -> Path:
    """A `distaff-plugsqlite` distribution on `site`: its metadata and entry point."""
    info = site / "distaff_plugsqlite-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: distaff-plugsqlite\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[distaff.backends]\nplugsqlite = plugsqlite:open_plugsqlite\n"
    )
    return site


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The plug-in installed in this process (entry points are read from `sys.path`)."""
    site = _install(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    yield site
    registry._OPENERS.pop("plugsqlite", None)


def _env(site: Path, **more: str) -> dict[str, str]:
    path = os.pathsep.join([str(site), str(PLUGIN_DIR), str(REPO)])
    return {"PYTHONPATH": path, **more}


async def test_an_entry_point_adds_a_scheme(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = tmp_path / "opened.txt"
    monkeypatch.setenv("PLUGSQLITE_OPENED", str(opened))
    assert "plugsqlite" in registry.registered_schemes()
    url = f"plugsqlite:///{tmp_path / 'db.sqlite'}"
    async with registry.open_backend(url) as backend:
        await backend.check()
    assert opened.read_text().splitlines() == [url]
    assert (tmp_path / "db.sqlite").is_file()


async def test_a_broken_plug_in_only_matters_to_its_scheme(installed: Path, tmp_path: Path) -> None:
    broken = installed / "distaff_broken-0.1.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: distaff-broken\nVersion: 0.1\n")
    (broken / "entry_points.txt").write_text(
        "[distaff.backends]\nbrokendb = no_such_module_anywhere:open_it\n"
    )
    assert {"plugsqlite", "brokendb"} <= set(registry.registered_schemes())
    async with registry.open_backend(f"plugsqlite:///{tmp_path / 'db.sqlite'}") as backend:
        await backend.check()
    with pytest.raises(
        ConfigError, match=r"brokendb:// \(no_such_module_anywhere:open_it\) failed"
    ):
        async with registry.open_backend("brokendb://x"):
            pass


async def test_register_backend_in_code(tmp_path: Path) -> None:
    opened: list[str] = []

    @contextlib.asynccontextmanager
    async def open_mine(options: registry.BackendOptions) -> AsyncIterator[Backend]:
        opened.append(options.database_url)
        async with registry.open_backend("memory://") as backend:
            yield backend

    distaff.register_backend("mine", open_mine)
    try:
        with pytest.raises(ValueError, match="already registered"):
            distaff.register_backend("mine", lambda options: open_mine(options))
        async with registry.open_backend("mine://anything?x=1") as backend:
            await backend.check()
        assert opened == ["mine://anything?x=1"]
    finally:
        registry._OPENERS.pop("mine", None)
    with pytest.raises(ConfigError, match=r"no backend for mine://.*sqlite://"):
        async with registry.open_backend("mine://anything"):
            pass


def test_the_built_in_backends_are_registered_the_same_way() -> None:
    assert {"memory", "sqlite", "postgresql", "postgres"} <= set(registry.registered_schemes())


async def test_a_server_runs_on_the_plug_in(tmp_path: Path) -> None:
    site = _install(tmp_path / "site")
    opened = tmp_path / "opened.txt"
    url = f"plugsqlite:///{tmp_path / 'db.sqlite'}"
    env = _env(site, PLUGSQLITE_OPENED=str(opened))
    with Server(url, env=env, log_path=ARTIFACTS / "server-plugsqlite.log") as srv:
        async with sdk(srv) as client:
            thread = await client.threads.create()
            out = await client.runs.wait(
                thread["thread_id"],
                "agent",
                input={"messages": [{"role": "user", "content": "hi"}]},
            )
            assert isinstance(out, dict) and out["messages"][-1]["content"] == "Hello there friend"
    assert opened.read_text().splitlines() == [url]


def test_the_contract_suite_passes_on_the_plug_in(tmp_path: Path) -> None:
    site = _install(tmp_path / "site")
    opened = tmp_path / "opened.txt"
    env = {
        **os.environ,
        **_env(site, PLUGSQLITE_OPENED=str(opened)),
        "CONTRACT_DATABASE_URL": "plugsqlite:///{tmp}/db.sqlite",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--basetemp={tmp_path / 'contract'}",
            "tests/backends",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= 60, summary
    # Every contract test that opened a backend opened the plug-in's.
    assert len(opened.read_text().splitlines()) >= passed
