"""Identifiers and timestamps, one place for both so every layer agrees on their shape."""

from __future__ import annotations

import functools
import os
import threading
import time
import uuid
from datetime import UTC, datetime

#: RFC 4122 namespace the reference server uses to derive system assistant ids from graph ids.
SYSTEM_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> str:
    """A time-ordered UUIDv7 string; monotonic within one process even inside one millisecond."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # 12-bit counter exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        _last_ms = ms
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76
        value |= _counter << 64
        value |= 0b10 << 62
        value |= rand_b
    return str(uuid.UUID(int=value))


@functools.lru_cache(maxsize=1024)
def system_assistant_id(graph_id: str) -> str:
    # Every run by graph name asks (a SHA-1 and a UUID each time, uncached).
    return str(uuid.uuid5(SYSTEM_ASSISTANT_NAMESPACE, graph_id))


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def canonical_uuid(value: str) -> str:
    """The lower-case hyphenated form, so ids compare equal however a client spelled them."""
    return str(uuid.UUID(value))


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """ISO-8601 with microseconds and +00:00, the reference server's timestamp format."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def now_iso() -> str:
    return isoformat(utcnow())


def checkpoint_id_at(seconds: float) -> str:
    """The lowest uuid6 (langgraph's checkpoint IDs) of the moment `seconds` after the epoch:
    every checkpoint ID made before that moment sorts below it, every later one above."""
    # uuid6: 60 bits of 100-ns intervals since 1582-10-15, the top 48 first, then the
    # version, the low 12; then the variant, with clock sequence and node at their lowest.
    stamp = min(max(0, int(seconds * 10_000_000) + 0x01B21DD213814000), (1 << 60) - 1)
    value = ((stamp >> 12) << 80) | (0x6 << 76) | ((stamp & 0x0FFF) << 64) | (0x8 << 60)
    return str(uuid.UUID(int=value))
