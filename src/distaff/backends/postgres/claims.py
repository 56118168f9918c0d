"""Claims on runs in PostgreSQL: who owns a running run (`owner_id`, and whether an owner is
`gone`), and the statements that take runs for this process and end them only while it still
owns them (`runs.py` says why; a thread-bound run's end is `distaff_end_run`, in `schema.py`)."""

from __future__ import annotations

import os
import socket


def owner_id() -> str:
    """This process, as recorded on the runs it claims: `host:pid:nonce`."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def gone(owner: str | None, host: str) -> bool:
    """Whether `owner` was a process on this host that no longer exists."""
    if owner is None:
        return True
    owner_host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if owner_host != host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, under another user
        return False
    return False


#: The oldest due pending run of each thread that has none running, up to `limit`, taken by
#: this process. One statement, so no transaction: when nothing is taken, one row of NULLs
#: still comes back, with `next_due`, the time the next scheduled run becomes due.
CLAIM = """
    WITH due AS (
        SELECT r.run_id FROM runs r
        WHERE r.status = 'pending' AND r.created_at <= %(now)s::timestamptz
          AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.thread_id = r.thread_id
                          AND (x.status = 'running' OR (x.status = 'pending'
                               AND (x.created_at, x.run_id) < (r.created_at, r.run_id))))
        ORDER BY r.created_at, r.run_id LIMIT %(limit)s
        FOR UPDATE OF r SKIP LOCKED
    ), claimed AS (
        UPDATE runs SET status = 'running', attempt = runs.attempt + 1,
                        updated_at = %(now)s, owner = %(owner)s,
                        lease_until = %(now)s::timestamptz + %(lease)s * interval '1 second'
        FROM due WHERE runs.run_id = due.run_id
        RETURNING runs.*
    )
    SELECT claimed.*,
           (SELECT min(created_at) FROM runs
            WHERE status = 'pending' AND created_at > %(now)s::timestamptz) AS next_due
    FROM (SELECT 1) AS one LEFT JOIN claimed ON true
"""

#: The run, while this process owns it: re-checked once locked, since a sweeper may have taken
#: it back meanwhile (a statement that waits for a row lock re-reads the row).
OWNED = "run_id = %(run_id)s AND owner = %(owner)s AND status = 'running'"

#: A stateless run's end: its thread goes, and its runs with it.
DROP_OWN_THREAD = (
    "DELETE FROM threads t USING (SELECT thread_id FROM runs WHERE"
    f" {OWNED} FOR UPDATE) AS own WHERE t.thread_id = own.thread_id"
)
