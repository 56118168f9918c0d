"""Log lines as text (for `distaff dev`) or one JSON object per line (for log shippers), each
carrying the ids of the request or run it was written for.

The ids travel in a context variable, bound by the request middleware and around each run's
execution; `IdsFilter` copies them onto every record a handler sees, so lines written deep in
a graph or a backend carry them without anyone passing them along.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]

#: The record attributes the ids are copied to (None when a line belongs to no request or run).
ID_FIELDS = ("request_id", "run_id", "thread_id")


class LogIds:
    """The ids of the request or run being handled. A request's thread and run ids are its
    path parameters, which routing fills in after the ids are bound: they are read when a line
    is written, from the request's scope."""

    __slots__ = ("path_params_of", "request_id", "run_id", "thread_id")

    def __init__(
        self,
        request_id: str | None = None,
        run_id: str | None = None,
        thread_id: str | None = None,
        path_params_of: Mapping[str, Any] | None = None,
    ) -> None:
        self.request_id = request_id
        self.run_id = run_id
        self.thread_id = thread_id
        #: An ASGI scope whose `path_params` name the thread and run, once routed.
        self.path_params_of = path_params_of

    def fields(self) -> tuple[str | None, str | None, str | None]:
        run_id, thread_id = self.run_id, self.thread_id
        if self.path_params_of is not None:
            params = self.path_params_of.get("path_params")
            if params:
                run_id = run_id or params.get("run_id")
                thread_id = thread_id or params.get("thread_id")
        return self.request_id, run_id, thread_id


current_ids: contextvars.ContextVar[LogIds | None] = contextvars.ContextVar(
    "distaff_log_ids", default=None
)


class IdsFilter(logging.Filter):
    """Puts `request_id`, `run_id` and `thread_id` on every record (None when unknown), so any
    formatter can use them, `%(request_id)s` included. Ids given in a call's `extra` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_ids.get()
        values = ids.fields() if ids is not None else (None, None, None)
        attributes = record.__dict__
        for name, value in zip(ID_FIELDS, values, strict=True):
            if attributes.get(name) is None:
                attributes[name] = value
        return True


#: Attributes every record has; anything else on a record came from `extra` and is a field.
_STANDARD = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
    | {"message", "asctime", "taskName", "color_message", *ID_FIELDS}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


_second: tuple[int, str] = (0, "")


def _utc_iso(created: float) -> str:
    """`2026-01-31T12:00:00.123Z`. The text up to the second is made once per second: it
    costs more than the rest of the line's JSON."""
    global _second
    whole = int(created)
    cached = _second  # one read: another thread's handler may swap it meanwhile
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{int((created - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ms), level, logger, message, the ids that are
    known, every `extra` field, and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        line.update(_extras(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, then the ids that are known as `key=value`: readable in a
    terminal, still greppable by run id."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = [
            f"{name}={value}"
            for name in ID_FIELDS
            if (value := getattr(record, name, None)) is not None
        ]
        if not ids:
            return text
        # A traceback stays last, so the ids stay on the line they belong to.
        head, sep, tail = text.partition("\n")
        return f"{head} {' '.join(ids)}{sep}{tail}"


def stderr_handler() -> logging.Handler:
    """The handler every line goes to. It takes Python's warnings too (`py.warnings`), which
    would otherwise be printed raw, a line a JSON reader cannot parse."""
    logging.captureWarnings(True)
    return logging.StreamHandler(sys.stderr)


def logging_config(log_format: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the whole process, uvicorn's loggers included (its
    own handlers would write lines in another format). A plain dict, so uvicorn can hand it to
    the processes it spawns (`--workers`, reload), which do not inherit logging set-up."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"ids": {"()": f"{IdsFilter.__module__}.{IdsFilter.__qualname__}"}},
        "formatters": {"distaff": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "()": f"{__name__}.{stderr_handler.__qualname__}",
                "formatter": "distaff",
                "filters": ["ids"],
            }
        },
        "loggers": {
            # uvicorn's loggers keep no handlers of their own: their lines reach the root's.
            name: {"handlers": [], "propagate": True, "level": level}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
        "root": {"handlers": ["stderr"], "level": level},
    }
