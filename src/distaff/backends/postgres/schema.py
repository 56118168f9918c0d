"""The metadata schema in PostgreSQL: an append-only list of migrations; index + 1 is the
version. Never edit one that has shipped; add a new one.

Replicas starting together take a transaction-level advisory lock before looking at the
version table, so exactly one applies each migration and the others find it done. Checkpoint
and store tables belong to langgraph's saver and store, which migrate their own.
"""

from __future__ import annotations

from distaff.backends.postgres.database import Database

#: `pg_advisory_xact_lock` key: "distaff" in ASCII, as a bigint.
LOCK_KEY = 0x64697374616666

MIGRATIONS: list[str] = [
    """
    CREATE TABLE assistants (
        assistant_id text PRIMARY KEY,
        graph_id text NOT NULL,
        config json NOT NULL,
        context json NOT NULL,
        metadata jsonb NOT NULL,
        name text NOT NULL,
        description text,
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX assistants_metadata ON assistants USING gin (metadata jsonb_path_ops);
    CREATE TABLE assistant_versions (
        assistant_id text NOT NULL REFERENCES assistants (assistant_id) ON DELETE CASCADE,
        version integer NOT NULL,
        graph_id text NOT NULL,
        config json NOT NULL,
        context json NOT NULL,
        metadata jsonb NOT NULL,
        name text NOT NULL,
        description text,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (assistant_id, version)
    );
    CREATE TABLE threads (
        thread_id text PRIMARY KEY,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        state_updated_at timestamptz NOT NULL,
        metadata jsonb NOT NULL,
        status text NOT NULL,
        config json NOT NULL,
        "values" jsonb,
        interrupts json,
        error json,
        ttl json
    );
    CREATE INDEX threads_created ON threads (created_at);
    CREATE INDEX threads_metadata ON threads USING gin (metadata jsonb_path_ops);
    CREATE TABLE runs (
        run_id text PRIMARY KEY,
        thread_id text NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
        assistant_id text NOT NULL,
        metadata jsonb NOT NULL,
        status text NOT NULL,
        kwargs json NOT NULL,
        multitask_strategy text NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        attempt integer NOT NULL DEFAULT 0,
        cancel_action text,
        -- The process executing the run and how long its claim holds without a heartbeat.
        owner text,
        lease_until timestamptz
    );
    CREATE INDEX runs_thread ON runs (thread_id, created_at);
    CREATE INDEX runs_pending ON runs (created_at, run_id) WHERE status = 'pending';
    CREATE INDEX runs_running ON runs (lease_until) WHERE status = 'running';
    -- At most one running run per thread, whatever any process believes.
    CREATE UNIQUE INDEX runs_one_running_per_thread ON runs (thread_id) WHERE status = 'running';
    CREATE TABLE crons (
        cron_id text PRIMARY KEY,
        assistant_id text NOT NULL,
        thread_id text,
        user_id text NOT NULL,
        end_time timestamptz,
        schedule text NOT NULL,
        timezone text NOT NULL,
        payload json NOT NULL,
        next_run_date timestamptz,
        metadata jsonb NOT NULL,
        on_run_completed text,
        enabled boolean NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX crons_due ON crons (next_run_date) WHERE enabled;
    """,
]


async def migrate(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS distaff_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = await (
            await conn.execute("SELECT max(version) AS v FROM distaff_migrations")
        ).fetchone()
        current = (row or {}).get("v") or 0
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            await conn.execute(script)
            await conn.execute("INSERT INTO distaff_migrations (version) VALUES (%s)", (version,))
