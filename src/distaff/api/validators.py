"""The checks request bodies run on their values, and the limits they hold them to: nesting
depth, integers the stores can keep, cron schedules that fire, dates that convert to UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

#: The largest integer a JSON number holds exactly in every client (JavaScript's
#: `Number.MAX_SAFE_INTEGER`); far inside the 64-bit range every database column takes.
MAX_SAFE_INT = 2**53 - 1
#: One year: a longer delay is a mistake, and far larger numbers overflow date arithmetic.
MAX_AFTER_SECONDS = 365 * 24 * 3600
#: A hundred years, for the same reason (a `ttl` of 1e300 minutes overflowed in the store).
MAX_TTL_MINUTES = 100 * 365 * 24 * 60
#: Ids a single request may list (and runs one `/runs/batch` may create).
MAX_IDS = 1000
#: Containment filters are matched recursively (SQLite: in Python, a few frames a level); one
#: nested some hundreds of levels ran out of stack. Real filters are a level or two deep.
MAX_FILTER_DEPTH = 64
#: The long-term store encodes values with orjson, which refuses more than about 250 levels.
MAX_STORE_VALUE_DEPTH = 200


def depth(value: Any) -> int:
    """How deep `value` nests objects and arrays (0 for a scalar). A loop, not recursion: it
    must measure what would exhaust the stack."""
    deepest = 0
    pending = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        pending.extend((child, level) for child in children)
    return deepest


# The validators below raise `PydanticCustomError`, not `ValueError`: the message then reads
# as written, without pydantic's "Value error, " in front.


def at_most_levels(limit: int) -> AfterValidator:
    def check(value: Any) -> Any:
        if depth(value) > limit:
            raise PydanticCustomError(
                "too_deep", "nested deeper than {limit} levels", {"limit": limit}
            )
        return value

    return AfterValidator(check)


#: A JSON containment filter (`metadata`, `values`).
Filter = Annotated[dict[str, Any], at_most_levels(MAX_FILTER_DEPTH)]


def _fires(schedule: str) -> str:
    """A cron schedule must name a time that exists. A malformed one is left to the cron
    service, which answers with the reference's message; one that never fires (`0 0 31 2 *`)
    would otherwise reach croniter's search and come back as "failed to find next date"."""
    try:
        croniter(schedule).get_next()
    except CroniterBadDateError:
        never = "the cron schedule {schedule} never fires"
        raise PydanticCustomError("cron_never_fires", never, {"schedule": repr(schedule)}) from None
    except CroniterBadCronError:
        pass  # malformed: the service says so in the reference's words
    return schedule


Schedule = Annotated[str, AfterValidator(_fires)]


def _in_utc(moment: datetime) -> datetime:
    # Near year 1 or 9999, or naive and read as local time, the conversion overflows.
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError("date_range", "out of range once converted to UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(_in_utc)]


def storable_integers(value: Any) -> Any:
    """Integers the stores can hold: langgraph's SQLite store encodes values with orjson,
    which refuses integers beyond 64 bits, and both backends refuse them alike (a loop, as in
    `depth`)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**64:
            raise PydanticCustomError(
                "integer_too_large", "integers beyond 64 bits cannot be stored: {n}", {"n": item}
            )
    return value
