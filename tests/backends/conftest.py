"""One backend per test, opened in-process as `runtime.py` opens it (`registry.open_backend`),
for each name in `CONTRACT` (`BACKENDS`, or the plug-in `CONTRACT_DATABASE_URL` names); a test
for several processes on one database takes
`@pytest.mark.parametrize("harness", SHARED, indirect=True)`.

Memory and SQLite get a fresh database per test (an in-memory one, a file in the test's
tmp_path). PostgreSQL gets one migrated database for the session, its tables truncated before
each test: that costs ~10 ms, where a new database costs ~60 ms copied from a migrated
template and ~110 ms migrated from empty (measured on the 2-core test machine).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from distaff.backends.base import Backend
from distaff.backends.registry import open_backend
from tests.backends import CONTRACT, CONTRACT_URL
from tests.backends.harness import STORE_TTL, Harness
from tests.postgres import Cluster


@dataclass
class PostgresDatabase:
    """The folder's one PostgreSQL database, migrated when the first test opens it."""

    url: str
    tables: tuple[str, ...] = ()

    async def emptied(self) -> str:
        """The database's URL, with every table but the migrations' truncated."""
        if not self.tables:
            async with open_backend(self.url, store_ttl=STORE_TTL):
                pass  # migrates
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                cur = await conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename NOT LIKE '%%migrations' ORDER BY tablename"
                )
                self.tables = tuple(row[0] for row in await cur.fetchall())
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in self.tables))
        return self.url


@pytest.fixture(scope="session")
def contract_pg(pg_cluster: Cluster) -> PostgresDatabase:
    # Sync: `harness` asks for it from inside the event loop (`getfixturevalue`), where an
    # async fixture could not be set up.
    return PostgresDatabase(pg_cluster.database())


@pytest.fixture(params=CONTRACT)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    name: str = request.param
    if CONTRACT_URL is not None and name != "plugin":
        pytest.skip("the contract runs on the plug-in backend alone (CONTRACT_DATABASE_URL)")
    if name == "plugin":
        assert CONTRACT_URL is not None
        url = CONTRACT_URL.replace("{tmp}", str(tmp_path))
    elif name == "memory":
        url = "memory://"
    elif name == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:
        database: PostgresDatabase = request.getfixturevalue("contract_pg")
        url = await database.emptied()
    async with Harness.open(name, url) as harness:
        yield harness


@pytest.fixture
def backend(harness: Harness) -> Backend:
    return harness.backend
