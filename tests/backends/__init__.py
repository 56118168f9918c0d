"""The repository contract, run in-process on every backend (no server, no HTTP).

`BACKENDS` is the one list of the backends distaff stores its data in; suites that run once
per backend take their parameters from it.
"""

from __future__ import annotations

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
