"""The metadata schema: an append-only list of migrations; the index + 1 is the version.

Never edit a migration that has shipped; add a new one. Checkpoint tables belong to
langgraph's saver, which creates its own.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    """
    CREATE TABLE assistants (
        assistant_id TEXT PRIMARY KEY,
        graph_id TEXT NOT NULL,
        config TEXT NOT NULL,
        context TEXT NOT NULL,
        metadata TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        version INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE assistant_versions (
        assistant_id TEXT NOT NULL REFERENCES assistants(assistant_id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        graph_id TEXT NOT NULL,
        config TEXT NOT NULL,
        context TEXT NOT NULL,
        metadata TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (assistant_id, version)
    );
    CREATE TABLE threads (
        thread_id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        state_updated_at TEXT NOT NULL,
        metadata TEXT NOT NULL,
        status TEXT NOT NULL,
        config TEXT NOT NULL,
        "values" TEXT,
        interrupts TEXT,
        error TEXT,
        ttl TEXT
    );
    CREATE INDEX threads_created ON threads(created_at);
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        thread_id TEXT NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
        assistant_id TEXT NOT NULL,
        metadata TEXT NOT NULL,
        status TEXT NOT NULL,
        kwargs TEXT NOT NULL,
        multitask_strategy TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        cancel_action TEXT
    );
    CREATE INDEX runs_thread ON runs(thread_id, created_at);
    CREATE INDEX runs_queue ON runs(status, created_at);
    """,
    """
    CREATE TABLE crons (
        cron_id TEXT PRIMARY KEY,
        assistant_id TEXT NOT NULL,
        thread_id TEXT,
        user_id TEXT NOT NULL,
        end_time TEXT,
        schedule TEXT NOT NULL,
        timezone TEXT NOT NULL,
        payload TEXT NOT NULL,
        next_run_date TEXT,
        metadata TEXT NOT NULL,
        on_run_completed TEXT,
        enabled INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX crons_due ON crons(enabled, next_run_date)
    """,
    # The v2 stream's events, numbered per thread; they go with their thread.
    """
    CREATE TABLE thread_events (
        thread_id TEXT NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        method TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT,
        line BLOB NOT NULL,
        PRIMARY KEY (thread_id, seq)
    ) WITHOUT ROWID
    """,
    # Token usage: each run's (`distaff.usage` JSON) and every assistant's running totals by
    # model, which outlive the runs (a stateless run's goes with its thread).
    """
    ALTER TABLE runs ADD COLUMN usage TEXT;
    CREATE TABLE usage_totals (
        assistant_id TEXT NOT NULL,
        model TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        total_tokens INTEGER NOT NULL,
        calls INTEGER NOT NULL,
        runs INTEGER NOT NULL,
        PRIMARY KEY (assistant_id, model)
    ) WITHOUT ROWID
    """,
    # A thread's own checkpoint retention (`{keep_last, max_age_seconds}`); NULL: the
    # deployment's.
    "ALTER TABLE threads ADD COLUMN retention TEXT",
]


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE IF NOT EXISTS distaff_migrations (version INTEGER PRIMARY KEY)")
    row = conn.execute("SELECT max(version) FROM distaff_migrations").fetchone()
    current = row[0] or 0
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute("INSERT INTO distaff_migrations (version) VALUES (?)", (version,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
