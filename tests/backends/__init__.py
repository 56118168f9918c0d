"""The repository contract, run in-process on every backend (no server, no HTTP).

`BACKENDS` is the one list of the backends distaff stores its data in; suites that run once
per backend take their parameters from it.
"""

from __future__ import annotations

import os

#: Each backend by the name tests use as a parameter id (the black-box suites add `redis`:
#: PostgreSQL with Redis carrying the stream events, not a store of its own).
BACKENDS: tuple[str, ...] = ("memory", "sqlite", "postgres")
#: Those that keep their data across a restart.
DURABLE: tuple[str, ...] = ("sqlite", "postgres")
#: Those on which several processes may share one database.
SHARED: tuple[str, ...] = ("postgres",)
#: What a server runs on: every backend, and PostgreSQL with the Redis stream broker.
SERVERS: tuple[str, ...] = (*BACKENDS, "redis")
#: Servers that several processes may share (replicas).
SHARED_SERVERS: tuple[str, ...] = ("postgres", "redis")

#: A backend a plug-in registers (`distaff.register_backend` or a `distaff.backends` entry
#: point), to prove it: `CONTRACT_DATABASE_URL='mydb://...' pytest tests/backends` runs the
#: contract on it alone, as a durable one-process backend (`{tmp}` in the URL becomes each
#: test's temporary folder).
CONTRACT_URL: str | None = os.environ.get("CONTRACT_DATABASE_URL") or None
#: The backends the contract suite runs on.
CONTRACT: tuple[str, ...] = ("plugin",) if CONTRACT_URL else BACKENDS
