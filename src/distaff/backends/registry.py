"""`database_url` scheme -> backend. Backends are imported lazily so a missing optional driver
only matters to those who choose that backend."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from langgraph.store.base import IndexConfig, TTLConfig

from distaff.backends.base import Backend
from distaff.errors import ConfigError

SCHEMES = ("memory://", "sqlite:///", "postgresql://", "postgres://")


@contextlib.asynccontextmanager
async def open_backend(
    database_url: str,
    *,
    store_ttl: TTLConfig | None = None,
    store_index: IndexConfig | None = None,
    lease_seconds: float = 20.0,
) -> AsyncIterator[Backend]:
    if database_url.startswith("memory://") or database_url == "memory":
        from distaff.backends.memory import open_memory

        async with open_memory(store_ttl, store_index) as backend:
            yield backend
    elif database_url.startswith("sqlite:///"):
        from distaff.backends.sqlite import open_sqlite

        path = database_url.removeprefix("sqlite:///")
        if not path:
            raise ConfigError("sqlite:/// needs a file path, e.g. sqlite:///.distaff/db.sqlite")
        async with open_sqlite(path, store_ttl, store_index) as backend:
            yield backend
    elif database_url.startswith(("postgresql://", "postgres://")):
        try:
            from distaff.backends.postgres import open_postgres
        except ImportError as exc:
            raise ConfigError(
                f"postgresql:// needs distaff's postgres extra (pip install 'distaff[postgres]'):"
                f" {exc}"
            ) from None
        async with open_postgres(
            database_url, store_ttl, store_index, lease_seconds=lease_seconds
        ) as backend:
            yield backend
    else:
        raise ConfigError(
            f"unknown database_url {database_url!r}: use one of {', '.join(SCHEMES[:3])}"
        )
