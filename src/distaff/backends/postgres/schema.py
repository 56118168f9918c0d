"""The metadata schema in PostgreSQL: an append-only list of migrations; index + 1 is the
version. Never edit one that has shipped; add a new one.

Replicas starting together take an advisory lock (`migration_lock`) before looking at the
version table, so exactly one applies each migration and the others find it done. Checkpoint
and store tables belong to langgraph's saver and store, which migrate their own under the same
lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from distaff.backends.postgres.database import Connection, Database

#: The migration lock's advisory key: "distaff" in ASCII, as a bigint.
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
    # Several processes on one database: who reads a run elsewhere, the event log that carries
    # stream events between processes (and keeps resumable streams), and notifications.
    """
    -- The process whose client streams or waits for the run (NULL for background runs): the
    -- process that claims the run sends its events there.
    ALTER TABLE runs ADD COLUMN reader text;
    CREATE TABLE run_events (
        seq bigserial PRIMARY KEY,
        run_id text NOT NULL,
        thread_id text NOT NULL,
        event_id text NOT NULL,
        event text NOT NULL,
        data bytea NOT NULL,
        resumable boolean NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX run_events_run ON run_events (run_id, seq);
    CREATE INDEX run_events_thread ON run_events (thread_id, seq);
    CREATE INDEX run_events_created ON run_events (created_at);
    -- Notifications are part of the transaction that changes a run, so they cost no round
    -- trip and are sent only if it commits: `distaff_wake` when a run may be claimable,
    -- `distaff_end` (run id, thread id, status) when a run ends or is deleted while active.
    CREATE FUNCTION distaff_runs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.status IN ('pending', 'running') THEN
                PERFORM pg_notify('distaff_end', OLD.run_id || ' ' || OLD.thread_id || ' rollback');
            END IF;
            RETURN OLD;
        END IF;
        IF NEW.status = 'pending' THEN
            IF TG_OP = 'INSERT' OR OLD.status <> 'pending' THEN
                PERFORM pg_notify('distaff_wake', '');
            END IF;
        ELSIF TG_OP = 'UPDATE' AND OLD.status IN ('pending', 'running')
                AND NEW.status NOT IN ('pending', 'running') THEN
            PERFORM pg_notify('distaff_end',
                              NEW.run_id || ' ' || NEW.thread_id || ' ' || NEW.status);
            IF EXISTS (SELECT 1 FROM runs WHERE thread_id = NEW.thread_id
                       AND status = 'pending') THEN
                PERFORM pg_notify('distaff_wake', '');  -- the thread's next run may start
            END IF;
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER runs_notify AFTER INSERT OR UPDATE OF status OR DELETE ON runs
        FOR EACH ROW EXECUTE FUNCTION distaff_runs_notify();
    """,
    # Wake-ups name the process whose transaction sent them (the `distaff.sender` setting of
    # its connections; empty for other clients), so it need not answer its own: it already
    # knows, and woke its own worker.
    """
    CREATE OR REPLACE FUNCTION distaff_runs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        sender text := coalesce(current_setting('distaff.sender', true), '');
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.status IN ('pending', 'running') THEN
                PERFORM pg_notify('distaff_end', OLD.run_id || ' ' || OLD.thread_id || ' rollback');
            END IF;
            RETURN OLD;
        END IF;
        IF NEW.status = 'pending' THEN
            IF TG_OP = 'INSERT' OR OLD.status <> 'pending' THEN
                PERFORM pg_notify('distaff_wake', sender);
            END IF;
        ELSIF TG_OP = 'UPDATE' AND OLD.status IN ('pending', 'running')
                AND NEW.status NOT IN ('pending', 'running') THEN
            PERFORM pg_notify('distaff_end',
                              NEW.run_id || ' ' || NEW.thread_id || ' ' || NEW.status);
            IF EXISTS (SELECT 1 FROM runs WHERE thread_id = NEW.thread_id
                       AND status = 'pending') THEN
                PERFORM pg_notify('distaff_wake', sender);  -- the thread's next run may start
            END IF;
        END IF;
        RETURN NEW;
    END $$;
    """,
    # The v2 stream's events, numbered per thread; they go with their thread.
    """
    CREATE TABLE thread_events (
        thread_id text NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        run_id text NOT NULL,
        method text NOT NULL,
        namespace jsonb NOT NULL,
        name text,
        line bytea NOT NULL,
        PRIMARY KEY (thread_id, seq)
    )
    """,
    # A run's start on an existing thread and its end, each one round trip instead of a
    # transaction of four statements (see `runs.py`). They are functions, not one statement of
    # common table expressions, for the thread's row lock: a statement sees the database as of
    # its start, so after waiting for the lock it would miss the runs committed meanwhile;
    # each statement inside a (volatile) function sees the database anew.
    """
    -- The thread's status once one of its runs ended: busy while it has other active runs,
    -- else `ended`; with `snapshot`, the state columns the run's end sets. NULL if no thread.
    CREATE FUNCTION distaff_settle_thread(
        p_thread_id text, p_ended text, p_now timestamptz, p_snapshot boolean DEFAULT false,
        p_values jsonb DEFAULT NULL, p_interrupts json DEFAULT NULL, p_error json DEFAULT NULL
    ) RETURNS text LANGUAGE plpgsql AS $$
    DECLARE
        settled text;
    BEGIN
        -- Every transaction that adds a run to the thread holds this lock while it does.
        PERFORM 1 FROM threads WHERE thread_id = p_thread_id FOR UPDATE;
        UPDATE threads SET
            status = CASE WHEN EXISTS (SELECT 1 FROM runs WHERE thread_id = p_thread_id
                                       AND status IN ('pending', 'running'))
                     THEN 'busy' ELSE p_ended END,
            updated_at = p_now,
            "values" = CASE WHEN p_snapshot THEN p_values ELSE "values" END,
            interrupts = CASE WHEN p_snapshot THEN p_interrupts ELSE interrupts END,
            error = CASE WHEN p_snapshot THEN p_error ELSE error END,
            state_updated_at = CASE WHEN p_snapshot THEN p_now ELSE state_updated_at END
        WHERE thread_id = p_thread_id
        RETURNING status INTO settled;
        RETURN settled;
    END $$;

    -- A run's end by the process that owns it: `p_status` NULL deletes the run (a rollback).
    -- NULL if the run is not this owner's any more, or its thread is gone.
    CREATE FUNCTION distaff_end_run(
        p_run_id text, p_owner text, p_status text, p_ended text, p_now timestamptz,
        p_snapshot boolean, p_values jsonb, p_interrupts json, p_error json
    ) RETURNS text LANGUAGE plpgsql AS $$
    DECLARE
        thread text;
    BEGIN
        IF p_status IS NULL THEN
            DELETE FROM runs WHERE run_id = p_run_id AND owner = p_owner AND status = 'running'
            RETURNING thread_id INTO thread;
        ELSE
            UPDATE runs SET status = p_status, updated_at = p_now, cancel_action = NULL,
                            owner = NULL, lease_until = NULL
            WHERE run_id = p_run_id AND owner = p_owner AND status = 'running'
            RETURNING thread_id INTO thread;
        END IF;
        IF thread IS NULL THEN
            RETURN NULL;
        END IF;
        RETURN distaff_settle_thread(thread, p_ended, p_now, p_snapshot, p_values,
                                     p_interrupts, p_error);
    END $$;

    -- A run added to an existing thread, under the thread's lock: the thread's active runs
    -- (oldest first) come back; the run goes in and the thread turns busy, unless `p_reject`
    -- and there are some. NULL (nothing added) if there is no such thread.
    CREATE FUNCTION distaff_add_run(
        p_run_id text, p_thread_id text, p_assistant_id text, p_metadata jsonb, p_kwargs json,
        p_strategy text, p_created_at timestamptz, p_updated_at timestamptz, p_reader text,
        p_stamp jsonb, p_reject boolean
    ) RETURNS text[] LANGUAGE plpgsql AS $$
    DECLARE
        inflight text[];
    BEGIN
        PERFORM 1 FROM threads WHERE thread_id = p_thread_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        SELECT coalesce(array_agg(run_id ORDER BY created_at, run_id), '{}') INTO inflight
        FROM runs WHERE thread_id = p_thread_id AND status IN ('pending', 'running');
        IF p_reject AND cardinality(inflight) > 0 THEN
            RETURN inflight;
        END IF;
        INSERT INTO runs (run_id, thread_id, assistant_id, metadata, status, kwargs,
                          multitask_strategy, created_at, updated_at, reader)
        VALUES (p_run_id, p_thread_id, p_assistant_id, p_metadata, 'pending', p_kwargs,
                p_strategy, p_created_at, p_updated_at, p_reader);
        UPDATE threads SET status = 'busy', metadata = metadata || p_stamp,
                           updated_at = p_updated_at
        WHERE thread_id = p_thread_id;
        RETURN inflight;
    END $$;
    """,
    # Token usage: each run's (`distaff.usage` JSON) and every assistant's running totals by
    # model, which outlive the runs (a stateless run's goes with its thread). A run's end
    # stores both in its one round trip: `distaff_end_run` takes the usage as a last argument
    # with a default, so a process of the previous version, calling it with nine, still can.
    """
    ALTER TABLE runs ADD COLUMN usage jsonb;
    CREATE TABLE usage_totals (
        assistant_id text NOT NULL,
        model text NOT NULL,
        input_tokens bigint NOT NULL,
        output_tokens bigint NOT NULL,
        total_tokens bigint NOT NULL,
        calls bigint NOT NULL,
        runs bigint NOT NULL,
        PRIMARY KEY (assistant_id, model)
    );

    CREATE FUNCTION distaff_count_usage(p_assistant_id text, p_usage jsonb)
    RETURNS void LANGUAGE sql AS $$
        INSERT INTO usage_totals AS u
            (assistant_id, model, input_tokens, output_tokens, total_tokens, calls, runs)
        SELECT p_assistant_id, m.key,
               coalesce((m.value->>'input_tokens')::bigint, 0),
               coalesce((m.value->>'output_tokens')::bigint, 0),
               coalesce((m.value->>'total_tokens')::bigint, 0),
               coalesce((m.value->>'calls')::bigint, 0), 1
        FROM jsonb_each(coalesce(p_usage->'by_model', '{}'::jsonb)) AS m
        ON CONFLICT (assistant_id, model) DO UPDATE SET
            input_tokens = u.input_tokens + excluded.input_tokens,
            output_tokens = u.output_tokens + excluded.output_tokens,
            total_tokens = u.total_tokens + excluded.total_tokens,
            calls = u.calls + excluded.calls,
            runs = u.runs + 1
    $$;

    DROP FUNCTION distaff_end_run(text, text, text, text, timestamptz, boolean, jsonb, json,
                                  json);
    CREATE FUNCTION distaff_end_run(
        p_run_id text, p_owner text, p_status text, p_ended text, p_now timestamptz,
        p_snapshot boolean, p_values jsonb, p_interrupts json, p_error json,
        p_usage jsonb DEFAULT NULL
    ) RETURNS text LANGUAGE plpgsql AS $$
    DECLARE
        thread text;
        assistant text;
    BEGIN
        IF p_status IS NULL THEN
            DELETE FROM runs WHERE run_id = p_run_id AND owner = p_owner AND status = 'running'
            RETURNING thread_id, assistant_id INTO thread, assistant;
        ELSE
            UPDATE runs SET status = p_status, updated_at = p_now, cancel_action = NULL,
                            owner = NULL, lease_until = NULL, usage = p_usage
            WHERE run_id = p_run_id AND owner = p_owner AND status = 'running'
            RETURNING thread_id, assistant_id INTO thread, assistant;
        END IF;
        IF thread IS NULL THEN
            RETURN NULL;
        END IF;
        IF p_usage IS NOT NULL THEN  -- spent, however the run ended
            PERFORM distaff_count_usage(assistant, p_usage);
        END IF;
        RETURN distaff_settle_thread(thread, p_ended, p_now, p_snapshot, p_values,
                                     p_interrupts, p_error);
    END $$;
    """,
    # A thread's own checkpoint retention (`{keep_last, max_age_seconds}`); NULL: the
    # deployment's.
    "ALTER TABLE threads ADD COLUMN retention jsonb",
    # A run added to a thread with nothing active, by a process with a worker slot kept for
    # it, goes in claimed (`p_owner`, `p_lease_until`): no wake-up, no claim statement. The
    # two new arguments have defaults, so a process of the previous version, calling it with
    # eleven, still can (and its runs go in pending, as before).
    """
    DROP FUNCTION distaff_add_run(text, text, text, jsonb, json, text, timestamptz, timestamptz,
                                  text, jsonb, boolean);
    CREATE FUNCTION distaff_add_run(
        p_run_id text, p_thread_id text, p_assistant_id text, p_metadata jsonb, p_kwargs json,
        p_strategy text, p_created_at timestamptz, p_updated_at timestamptz, p_reader text,
        p_stamp jsonb, p_reject boolean, p_owner text DEFAULT NULL,
        p_lease_until timestamptz DEFAULT NULL
    ) RETURNS text[] LANGUAGE plpgsql AS $$
    DECLARE
        inflight text[];
        taken boolean;
    BEGIN
        PERFORM 1 FROM threads WHERE thread_id = p_thread_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        SELECT coalesce(array_agg(run_id ORDER BY created_at, run_id), '{}') INTO inflight
        FROM runs WHERE thread_id = p_thread_id AND status IN ('pending', 'running');
        IF p_reject AND cardinality(inflight) > 0 THEN
            RETURN inflight;
        END IF;
        taken := p_owner IS NOT NULL AND cardinality(inflight) = 0;
        INSERT INTO runs (run_id, thread_id, assistant_id, metadata, status, kwargs,
                          multitask_strategy, created_at, updated_at, reader, attempt, owner,
                          lease_until)
        VALUES (p_run_id, p_thread_id, p_assistant_id, p_metadata,
                CASE WHEN taken THEN 'running' ELSE 'pending' END, p_kwargs, p_strategy,
                p_created_at, p_updated_at, p_reader, CASE WHEN taken THEN 1 ELSE 0 END,
                CASE WHEN taken THEN p_owner END, CASE WHEN taken THEN p_lease_until END);
        UPDATE threads SET status = 'busy', metadata = metadata || p_stamp,
                           updated_at = p_updated_at
        WHERE thread_id = p_thread_id;
        RETURN inflight;
    END $$;
    """,
]


@contextlib.asynccontextmanager
async def migration_lock(db: Database) -> AsyncIterator[Connection]:
    """Hold the migration lock (a session advisory lock) on one connection.

    Waiting for it is a loop of `pg_try_advisory_lock`, never a blocked `pg_advisory_lock`: a
    blocked statement holds a snapshot, and langgraph's `CREATE INDEX CONCURRENTLY`, run by the
    process holding the lock, waits for every older snapshot to go. Two replicas starting at
    once would each wait for the other, a cycle through the client that PostgreSQL cannot see.
    """
    async with db.connection() as conn:
        while True:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (LOCK_KEY,))
            row = await cur.fetchone()
            if row is not None and row["ok"]:
                break
            await asyncio.sleep(0.1)
        try:
            yield conn
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


async def migrate(conn: Connection) -> None:
    """Apply the migrations this database lacks (under `migration_lock`)."""
    async with conn.transaction():
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
