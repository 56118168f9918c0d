"""A third-party backend, as a plug-in would ship one: the `plugsqlite:///path` scheme, on
distaff's SQLite backend underneath, found through a `distaff.backends` entry point
(tests/test_backend_plugins.py writes the distribution metadata that declares it). Each open
is noted in the file `PLUGSQLITE_OPENED` names, so a test can tell the plug-in was used."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from distaff.backends.base import Backend
from distaff.backends.registry import BackendOptions
from distaff.backends.sqlite import open_sqlite


@contextlib.asynccontextmanager
async def open_plugsqlite(options: BackendOptions) -> AsyncIterator[Backend]:
    if noted := os.environ.get("PLUGSQLITE_OPENED"):
        with open(noted, "a") as file:
            file.write(options.database_url + "\n")
    path = options.rest.removeprefix("/")
    async with open_sqlite(path, options.store_ttl, options.store_index, serde=options.serde) as b:
        yield b
