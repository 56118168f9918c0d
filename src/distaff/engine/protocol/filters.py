"""Which events a v2 stream or subscription wants: channels, namespace prefixes and depth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distaff.backends.base import LoggedEnvelope

CHANNELS = frozenset(
    {
        "values",
        "updates",
        "checkpoints",
        "messages",
        "tools",
        "custom",
        "lifecycle",
        "input",
        "tasks",
    }
)
ALLOWED = (
    "values, updates, checkpoints, messages, tools, custom, lifecycle, input, tasks,"
    " or any `custom:<name>`"
)


def channel_of(method: str) -> str:
    return "input" if method == "input.requested" else method


def _segment_matches(prefix: str, segment: str) -> bool:
    # A prefix segment without a task id matches the node whatever its task: `mid` matches
    # `mid:<task id>`.
    return prefix == segment or (":" not in prefix and segment.partition(":")[0] == prefix)


@dataclass(frozen=True, slots=True)
class StreamFilter:
    channels: frozenset[str]
    #: Custom lanes by name (`custom:<name>`).
    lanes: frozenset[str]
    namespaces: tuple[tuple[str, ...], ...] | None = None
    depth: int | None = None

    @classmethod
    def parse(cls, body: dict[str, Any]) -> StreamFilter:
        """From a stream request or subscription; ValueError says what is wrong."""
        channels = body.get("channels")
        if not isinstance(channels, list) or not channels:
            raise ValueError("channels is required and must be a non-empty array")
        bad = [
            str(c)
            for c in channels
            if not isinstance(c, str)
            or (c not in CHANNELS and not (c.startswith("custom:") and len(c) > len("custom:")))
        ]
        if bad:
            raise ValueError(
                f"channels contains unsupported entries: {', '.join(bad)}. Allowed: {ALLOWED}."
            )
        plain = frozenset(c for c in channels if c in CHANNELS)
        lanes = frozenset(c.removeprefix("custom:") for c in channels if c not in CHANNELS)
        raw = body.get("namespaces")
        namespaces: tuple[tuple[str, ...], ...] | None = None
        if isinstance(raw, list):
            kept = tuple(
                tuple(ns)
                for ns in raw
                if isinstance(ns, list) and all(isinstance(s, str) for s in ns)
            )
            namespaces = kept or None
        depth = body.get("depth")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            depth = None
        return cls(plain, lanes, namespaces, depth)

    def matches(self, event: LoggedEnvelope) -> bool:
        channel = channel_of(event.method)
        if channel not in self.channels and not (
            channel == "custom" and event.name is not None and event.name in self.lanes
        ):
            return False
        if self.namespaces is None:
            return True
        ns = event.namespace
        for prefix in self.namespaces:
            if len(prefix) > len(ns):
                continue
            if not all(_segment_matches(p, s) for p, s in zip(prefix, ns, strict=False)):
                continue
            if self.depth is None or len(ns) - len(prefix) <= self.depth:
                return True
        return False
