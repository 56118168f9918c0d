"""Runs: what a cancel, a crash recovery and a run's end do to the run and its thread.

`on_cancel` and `on_recover` answer with an `Effect`: one change to the run, and the status its
thread settles in afterwards (`settled`: busy while it has other active runs). The backend
applies both in the transaction that read the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from distaff.errors import Conflict, NotFound
from distaff.models import CancelAction, Json, RunStatus, ThreadStatus

#: A run in one of these holds its thread: it may be cancelled, not deleted.
ACTIVE: tuple[RunStatus, ...] = ("pending", "running")

BUSY_MESSAGE = (
    "Thread is already running a task. Wait for it to finish or choose a different multitask"
    " strategy."
)

#: The error left on the thread of a run that used up its attempts on dead workers.
ATTEMPTS_EXCEEDED: Json = {"error": "RunAttemptsExceeded", "message": "the run's worker died"}

Change = Literal["flag", "drop_thread", "delete", "interrupt", "fail", "requeue"]
"""What happens to the run:

- `flag`: record `cancel` on the running run (its process stops it; `recover` honours it if
  that process dies first);
- `drop_thread`: delete the run's thread with all its runs (a stateless run);
- `delete`: delete the run (rollback);
- `interrupt`: the run ends `interrupted`, its recorded cancel cleared;
- `fail`: the run ends `error`, and its thread gets `ATTEMPTS_EXCEEDED` as its error;
- `requeue`: the run goes back to `pending`, to resume from its checkpoints.
"""


@dataclass(frozen=True, slots=True)
class Effect:
    change: Change
    #: The status the thread settles in after the change (see `settled`); None: untouched.
    settle: ThreadStatus | None = None
    #: For `flag`: the cancel to record.
    cancel: CancelAction | None = None
    #: For `fail`: the error to store on the thread.
    thread_error: Json | None = None


def is_active(status: str) -> bool:
    return status in ACTIVE


def active_filter(status: str | None) -> RunStatus | None:
    """The status a cancel request narrows to: only an active one narrows it (others mean any)."""
    return "pending" if status == "pending" else "running" if status == "running" else None


def on_cancel(action: CancelAction, status: RunStatus, *, temporary: bool) -> Effect:
    """A cancel accepted for an active run. A running run is only flagged: its process stops
    it and ends it. A pending one ends here: a stateless one goes with its thread, else it is
    deleted (`rollback`) or interrupted, and its thread settles `idle`."""
    if status == "running":
        return Effect("flag", cancel=action)
    if temporary:
        return Effect("drop_thread")
    return Effect("delete" if action == "rollback" else "interrupt", settle="idle")


def on_recover(
    cancel: CancelAction | None, attempt: int, max_attempts: int, *, temporary: bool
) -> Effect:
    """A run left `running` by a dead process. A cancel recorded before it died is honoured
    (as `on_cancel` for a pending run); a run that used up its attempts fails (a stateless one
    goes with its thread); any other goes back to the queue."""
    if cancel is not None:
        if temporary:
            return Effect("drop_thread")
        return Effect("delete" if cancel == "rollback" else "interrupt", settle="idle")
    if attempt >= max_attempts:
        if temporary:
            return Effect("drop_thread")
        return Effect("fail", settle="error", thread_error=ATTEMPTS_EXCEEDED)
    return Effect("requeue")


def thread_status_after(status: RunStatus | None, *, has_next: bool) -> ThreadStatus:
    """The thread's status after a run ended with `status` (None: rolled back) and left a
    state with (`has_next`) or without a next step, before `settled`."""
    if status == "error":
        return "error"
    return "interrupted" if has_next else "idle"


def settled(ended: ThreadStatus, *, others_active: bool) -> ThreadStatus:
    """A run on the thread ended: the thread is busy while others are active, else `ended`."""
    return "busy" if others_active else ended


def check_deletable(run_id: str, status: str) -> None:
    """An active run cannot be deleted: it must be cancelled first."""
    if is_active(status):
        raise Conflict(f"Run {run_id} is still {status}; cancel it first")


def thread_busy() -> Conflict:
    """A run refused because its thread has an active one (multitask strategy `reject`)."""
    return Conflict(BUSY_MESSAGE)


def thread_missing() -> NotFound:
    """A run on a thread that does not exist."""
    return NotFound("Thread or assistant not found.")
