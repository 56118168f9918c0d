"""What a run's change does to its thread, in PostgreSQL: the `rules.runs` effects of a cancel
or a recovery applied, and the status a thread settles in once one of its runs ended."""

from __future__ import annotations

from distaff.backends.postgres.database import Connection, json
from distaff.backends.rules import runs as rules
from distaff.models import ThreadStatus


async def _drop_thread(conn: Connection, thread_id: str) -> None:
    await conn.execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,))  # runs cascade


async def _settle_thread(
    conn: Connection, thread_id: str, ended: ThreadStatus, now: str
) -> ThreadStatus:
    """A run on the thread ended: the thread is busy while others are active, else `ended`
    (`distaff_settle_thread`, in `schema.py`, under the thread's row lock)."""
    cur = await conn.execute(
        "SELECT distaff_settle_thread(%s::text, %s::text, %s::timestamptz) AS status",
        (thread_id, ended, now),
    )
    row = await cur.fetchone()
    return (row and row["status"]) or ended


#: How each `rules.runs.Effect` changes the run (`drop_thread` goes through `_drop_thread`).
#: A run that leaves `running` leaves its owner's hands too.
_CHANGES: dict[rules.Change, str] = {
    "flag": "UPDATE runs SET cancel_action = %(cancel)s WHERE run_id = %(run_id)s",
    "delete": "DELETE FROM runs WHERE run_id = %(run_id)s",
    "interrupt": "UPDATE runs SET status = 'interrupted', cancel_action = NULL, owner = NULL,"
    " lease_until = NULL, updated_at = %(now)s WHERE run_id = %(run_id)s",
    "fail": "UPDATE runs SET status = 'error', owner = NULL, lease_until = NULL,"
    " updated_at = %(now)s WHERE run_id = %(run_id)s",
    "requeue": "UPDATE runs SET status = 'pending', owner = NULL, lease_until = NULL,"
    " updated_at = %(now)s WHERE run_id = %(run_id)s",
}


async def apply_effect(
    conn: Connection, run_id: str, thread_id: str, effect: rules.Effect, now: str
) -> None:
    """Make the change `effect` says to the run, then to its thread."""
    if effect.change == "drop_thread":
        await _drop_thread(conn, thread_id)
        return
    params = {"run_id": run_id, "cancel": effect.cancel, "now": now}
    await conn.execute(_CHANGES[effect.change], params)
    if effect.thread_error is not None:
        await conn.execute(
            "UPDATE threads SET error = %s, interrupts = coalesce(interrupts, '{}')"
            " WHERE thread_id = %s",
            (json(effect.thread_error), thread_id),
        )
    if effect.settle is not None:
        await _settle_thread(conn, thread_id, effect.settle, now)
