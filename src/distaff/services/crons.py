"""Crons: scheduled runs on a thread or on a fresh thread each time.

Firing is compare-and-set on `next_run_date` (`CronRepo.advance`), so a tick fires once even
with two schedulers on one database. The next date is computed from *now*: ticks missed while
the server was down fire once, then the schedule continues.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from distaff.auth import OPEN, AuthUser, Gate, Principal, acting_as, owned
from distaff.backends.base import Backend
from distaff.engine.webhooks import Webhooks
from distaff.errors import BadRequest, InvalidInput, NotFound
from distaff.ids import canonical_uuid, is_uuid, isoformat, now_iso, utcnow, uuid7
from distaff.models import Cron, CronQuery, Json, Page
from distaff.services.assistants import AssistantService
from distaff.services.run_creation import RunCreator
from distaff.services.threads import visible_thread

log = logging.getLogger("distaff.crons")

#: Request fields that describe the runs a cron creates.
PAYLOAD_KEYS = (
    "input",
    "metadata",
    "config",
    "context",
    "webhook",
    "interrupt_before",
    "interrupt_after",
    "stream_mode",
    "stream_subgraphs",
    "stream_resumable",
    "durability",
    "multitask_strategy",
)
BAD_SCHEDULE = (
    "Invalid cron schedule: {!r}. Reason: Invalid cron schedule. Ensure the schedule uses the"
    " standard cron format (minute hour day_of_month month day_of_week). Example: '*/5 * * * *'"
    " for every 5 minutes."
)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown timezone {name!r}") from None


def next_run(schedule: str, timezone: str | None, after: datetime) -> str:
    """The first tick of `schedule` (read in `timezone`) after `after`, as a UTC timestamp."""
    # croniter also takes a seventh field (years); cron and the reference take five, or six
    # with seconds.
    if len(schedule.split()) > 6 or not croniter.is_valid(schedule):
        raise InvalidInput(BAD_SCHEDULE.format(schedule))
    moment = croniter(schedule, after.astimezone(_zone(timezone))).get_next(datetime)
    # Whole seconds, as the reference writes it; it still sorts right against timestamps with
    # microseconds ('+' sorts before '.').
    return str(moment.astimezone(UTC).isoformat())


class CronService:
    def __init__(
        self,
        backend: Backend,
        assistants: AssistantService,
        run_creator: RunCreator,
        webhooks: Webhooks,
        gate: Gate = OPEN,
    ) -> None:
        self._repo = backend.crons
        self._threads = backend.threads
        self._assistants = assistants
        self._run_creator = run_creator
        self._webhooks = webhooks
        self._gate = gate

    async def _visible(self, cron_id: str, action: str, value: Json | None = None) -> Cron:
        if not is_uuid(cron_id):
            raise NotFound(f"Cron {cron_id} not found")
        cid = canonical_uuid(cron_id)
        value = {} if value is None else value  # the caller reads back what the handler changed
        value["cron_id"] = cid
        cron = await self._gate.load("crons", action, value, lambda: self._repo.get(cid))
        if cron is None:
            raise NotFound(f"Cron {cron_id} not found")
        return cron

    async def create(self, thread_id: str | None, body: Json) -> Cron:
        assistant = await self._assistants.resolve(body["assistant_id"], authorized=True)
        if thread_id is not None:
            thread = await visible_thread(self._threads, self._gate, thread_id, "read")
            thread_id = thread["thread_id"]
        if body.get("webhook"):
            await self._webhooks.check(body["webhook"])
        cron_id, now = uuid7(), now_iso()
        timezone = body.get("timezone") or "UTC"
        payload = {k: body[k] for k in PAYLOAD_KEYS if body.get(k) is not None}
        payload["assistant_id"] = assistant["assistant_id"]
        principal = self._gate.principal()
        value: Json = {
            "payload": payload,
            "schedule": body["schedule"],
            "cron_id": cron_id,
            "thread_id": thread_id,
            "user_id": principal.identity if principal is not None else None,
            "end_time": body.get("end_time"),
            "metadata": dict(body.get("metadata") or {}),
        }
        flt = await self._gate.authorize("crons", "create", value)
        cron: Cron = {
            "cron_id": cron_id,
            "assistant_id": assistant["assistant_id"],
            "thread_id": thread_id,
            # Whose runs these are: the cron fires them as this user.
            "user_id": value.get("user_id") or "",
            "end_time": body.get("end_time"),
            "schedule": body["schedule"],
            "timezone": timezone,
            "payload": payload,
            "next_run_date": next_run(body["schedule"], timezone, utcnow()),
            "metadata": {**(value.get("metadata") or {}), **owned(flt)},
            "on_run_completed": None if thread_id else body.get("on_run_completed") or "delete",
            "enabled": body.get("enabled", True),
            "created_at": now,
            "updated_at": now,
        }
        return await self._repo.create(cron)

    async def get(self, cron_id: str) -> Cron:
        return await self._visible(cron_id, "read")

    async def update(self, cron_id: str, body: Json) -> Cron:
        if not body:
            raise BadRequest("Nothing to update: give at least one field")
        value: Json = {
            "payload": {k: v for k, v in body.items() if k in PAYLOAD_KEYS},
            "schedule": body.get("schedule"),
        }
        cron = await self._visible(cron_id, "update", value)
        changes: Json = {}
        for key in ("schedule", "timezone", "enabled", "on_run_completed", "metadata"):
            if body.get(key) is not None:
                changes[key] = body[key]
        if "end_time" in body:  # an explicit null clears it
            changes["end_time"] = body["end_time"]
        payload = {**cron["payload"], **{k: v for k, v in body.items() if k in PAYLOAD_KEYS}}
        if payload != cron["payload"]:
            changes["payload"] = payload
        if "schedule" in changes or "timezone" in changes:
            changes["next_run_date"] = next_run(
                changes.get("schedule", cron["schedule"]),
                changes.get("timezone", cron["timezone"]),
                utcnow(),
            )
        return await self._repo.update(cron["cron_id"], changes)

    async def delete(self, cron_id: str) -> None:
        cron = await self._visible(cron_id, "delete")
        if not await self._repo.delete(cron["cron_id"]):
            raise NotFound(f"Cron {cron_id} not found")

    async def _limited(self, query: CronQuery, page: Page | None = None) -> CronQuery:
        value: Json = {"assistant_id": query.assistant_id, "thread_id": query.thread_id}
        if page is not None:
            value.update(limit=page.limit, offset=page.offset)
        flt = await self._gate.authorize("crons", "search", value)
        return dataclasses.replace(query, auth=flt)

    async def search(self, query: CronQuery, page: Page) -> list[Cron]:
        return await self._repo.search(await self._limited(query, page), page)

    async def count(self, query: CronQuery) -> int:
        return await self._repo.count(await self._limited(query))

    async def fire_due(self) -> int:
        """Fire every cron whose time has come, each exactly once; returns how many fired."""
        now = utcnow()
        fired = 0
        for cron in await self._repo.due(isoformat(now), 100):
            ended = cron["end_time"] is not None and cron["end_time"] <= isoformat(now)
            following = None if ended else next_run(cron["schedule"], cron["timezone"], now)
            if not await self._repo.advance(cron["cron_id"], cron["next_run_date"], following):
                continue  # another scheduler took this tick
            if ended:
                continue
            try:
                # As the user who made the cron: its runs carry that user, and were
                # authorized when the cron was.
                user = AuthUser({"identity": cron["user_id"] or "system"})
                with acting_as(Principal(user, trusted=True)):
                    await self._run_creator.create(
                        cron["thread_id"],
                        self._run_body(cron),
                        "background",
                        server_configurable={"cron_id": cron["cron_id"]},
                        # The thread a stateless cron makes for each run carries its metadata.
                        thread_metadata=cron["metadata"] if cron["thread_id"] is None else None,
                    )
            except Exception:
                log.exception("cron %s could not create its run", cron["cron_id"])
                continue
            fired += 1
        return fired

    @staticmethod
    def _run_body(cron: Cron) -> dict[str, Any]:
        body = dict(cron["payload"])
        body["metadata"] = {**cron["metadata"], **(body.get("metadata") or {})}
        if cron["thread_id"] is None:
            body.pop("multitask_strategy", None)
            body["on_completion"] = "keep" if cron["on_run_completed"] == "keep" else "delete"
        return body
