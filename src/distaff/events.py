"""A stream event as every layer sees it: published by the engine, written to and read from
other processes' logs by the backends' relays, framed as SSE by the API."""

from __future__ import annotations

from dataclasses import dataclass

#: The last entry of a run's event log: how the run ended, for readers in other processes.
END_EVENT = "__end__"

#: `Last-Event-ID` values that ask for everything from the start.
FROM_START = frozenset({"-1", "0", ""})


@dataclass(frozen=True, slots=True)
class StreamEvent:
    event: str
    data: bytes  #: one line of JSON
    id: str  #: `<epoch-ms>-<seq>`, strictly increasing within a process
    resumable: bool = False


def parse_event_id(value: str) -> tuple[int, int] | None:
    """`<ms>-<seq>` as a comparable pair; `-1` and `0` mean "from the start". None for a value
    that is no id of ours: clients treat the id as an opaque token, so a bad one is not the
    client's error, it only means there is nothing to replay after it."""
    value = value.strip()
    if value in FROM_START:
        return (-1, -1)
    ms, sep, seq = value.partition("-")
    try:
        return (int(ms), int(seq) if sep else 0)
    except ValueError:
        return None
