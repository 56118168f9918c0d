"""The repository contract, run in-process on every backend (no server, no HTTP).

`BACKENDS` is the one list of the backends distaff stores its data in; suites that run once
per backend take their parameters from it.
"""

from __future__ import annotations

#: Each backend by the name tests use as a parameter id (the black-box suites add `redis`:
#: PostgreSQL with Redis carrying the stream events, not a store of its own).
BACKENDS: tuple[str, ...] = ("memory", "sqlite", "postgres")
#: Those on which several processes may share one database.
SHARED: tuple[str, ...] = ("postgres",)
